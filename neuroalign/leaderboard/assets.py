"""The leaderboard's inline CSS and JavaScript (no CDN, no build step: the pages open from disk)."""

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.2em;color:#1b1b1b;font-size:14px}
h1{font-size:22px;margin:0 0 .3em} h2{font-size:17px;margin:1.4em 0 .4em}
a{color:#1a4f9c} td a{color:inherit;text-decoration:none} td a:hover{text-decoration:underline}
.note{color:#444;font-size:13px;max-width:72em;margin:.3em 0}
.controls{display:flex;flex-wrap:wrap;gap:1em;align-items:center;margin:.8em 0}
.controls input{padding:4px 6px;width:16em} .controls select{padding:3px}
.legend{display:inline-flex;align-items:center;gap:.4em;font-size:12px;color:#444}
.legend .bar{width:140px;height:12px;border:1px solid #999;background:linear-gradient(to right,__GRADIENT__)}
table{border-collapse:collapse}
th,td{border:1px solid #d4d4d4;padding:3px 6px;text-align:right;vertical-align:middle}
td.text,th.text{text-align:left}
thead th{background:#f1f1f1;position:sticky;top:0;font-size:13px}
#leaderboard thead th{cursor:pointer;user-select:none}
#leaderboard thead th:hover{background:#e0e8f8}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
th .sub{display:block;font-weight:normal;font-size:11px;color:#555}
th.bench{font-weight:normal;font-size:10.5px;min-width:4em;word-break:normal;overflow-wrap:normal;hyphens:none;background:#f7f7f7}
td.bench{font-size:13px}
td.model{white-space:nowrap} td.model a{color:#1a4f9c;font-weight:600}
td.nowrap{white-space:nowrap}
td.model .spec{display:block;font-size:11px;color:#666;white-space:normal;max-width:10em;overflow-wrap:anywhere}
button.expand{margin-left:.3em;font-size:11px;padding:0 4px;cursor:pointer;border:1px solid #aaa;border-radius:3px;background:#fff}
.collapsed,.other-region,tr.filtered{display:none}
td.missing{color:#777;text-align:center}
td.missing .why{display:block;font-size:10.5px;line-height:1.15;max-width:10em;margin:0 auto;white-space:normal;overflow:visible}
td.missing .raw{display:block;font-size:12px;color:#333}
.num{font-variant-numeric:tabular-nums}
#results tr:target td{background:#ffe08a}
dl.details{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:.5em 0}
dl.details dt{font-weight:600} dl.details dd{margin:0;word-break:break-all}
figure{display:inline-block;vertical-align:top;margin:.5em 1em 1em 0;max-width:760px}
figure img{width:100%;max-width:760px;border:1px solid #ddd}
figcaption{font-size:12.5px;color:#333;line-height:1.35}
td.more details{font-size:12px} td.more dl{display:grid;grid-template-columns:max-content auto;gap:0 .8em;margin:.3em 0}
td.more dt{font-weight:600} td.more dd{margin:0;max-width:40em}
#results{font-size:12px} #results th,#results td{padding:2px 4px} #results td{white-space:nowrap}
#results td.more{white-space:normal}
.methods{max-width:60em;line-height:1.45} .methods table{margin:.6em 0} .methods td,.methods th{text-align:left}
.methods pre{background:#f6f6f6;padding:.5em;overflow-x:auto}
code{font-size:12px}
td.small{font-size:11px;max-width:26em}
td .tier{display:inline-block;margin-left:.2em;padding:0 2px;border-radius:3px;background:#fff;color:#111;
  font-size:10.5px;font-weight:700;border:1px solid #888;line-height:1.2}
td .ci{display:block;font-size:9.5px;line-height:1.15;white-space:normal;opacity:.9}
td.missing .ci{color:#333}
#tiers td.tier{font-weight:700}
#pairwise td.pair span{display:block;white-space:nowrap} #pairwise td.pair .ci,#pairwise td.pair .q{font-size:11px;color:#444}
#pairwise td.sig{background:#fde7c8} #pairwise th{font-size:12px}
"""

# Sort: numbers highest first on the first click (rank lowest first), text A-Z; a second click flips;
# empty cells always last; ties keep the previous order (Array.prototype.sort is stable).
SORT_JS = """
function neuroalignSortable(table){
  var heads=table.tHead.rows[0].cells;
  function key(cell,num){var v=cell.getAttribute('data-value');
    if(v===null||v===''){return null;} return num?parseFloat(v):v.toLowerCase();}
  function sortBy(i){
    var th=heads[i], num=th.getAttribute('data-type')==='num';
    var cur=th.getAttribute('aria-sort');
    var dir=cur?(cur==='ascending'?'descending':'ascending'):th.getAttribute('data-first');
    var sign=dir==='ascending'?1:-1, body=table.tBodies[0];
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=key(a.cells[i],num), y=key(b.cells[i],num);
      if(x===null&&y===null){return 0;} if(x===null){return 1;} if(y===null){return -1;}
      return x<y?-sign:(x>y?sign:0);});
    rows.forEach(function(r){body.appendChild(r);});
    for(var j=0;j<heads.length;j++){heads[j].removeAttribute('aria-sort');}
    th.setAttribute('aria-sort',dir);
  }
  for(var i=0;i<heads.length;i++){(function(i){
    heads[i].addEventListener('click',function(e){if(e.target.closest('button')){return;} sortBy(i);});
    heads[i].addEventListener('keydown',function(e){if(e.target!==heads[i]){return;}
      if(e.key==='Enter'||e.key===' '){e.preventDefault();sortBy(i);}});
  })(i);}
}
"""

MAIN_JS = """
(function(){
  var table=document.getElementById('leaderboard');
  neuroalignSortable(table);
  var data=JSON.parse(document.getElementById('leaderboard-data').textContent);
  function each(sel,fn){Array.prototype.forEach.call(document.querySelectorAll(sel),fn);}
  each('button.expand',function(b){
    b.addEventListener('click',function(e){
      e.stopPropagation();
      var open=b.getAttribute('aria-expanded')!=='true', reg=b.getAttribute('data-target');
      b.setAttribute('aria-expanded',open?'true':'false');
      b.textContent=(open?'\\u25BE ':'\\u25B8 ')+b.getAttribute('data-n');
      each('#leaderboard [data-region-of]',function(c){
        if(c.getAttribute('data-region-of')===reg){c.classList.toggle('collapsed',!open);}});
    });
  });
  var text=document.getElementById('filter-text'), region=document.getElementById('filter-region');
  function applyFilter(){
    var q=text.value.trim().toLowerCase(), r=region.value, shown=0, rows=table.tBodies[0].rows;
    for(var k=0;k<rows.length;k++){
      var row=rows[k], ok=!q||row.getAttribute('data-search').indexOf(q)>=0;
      if(ok&&r){var c=row.querySelector('td[data-region="'+CSS.escape(r)+'"]');
        ok=!!c&&c.getAttribute('data-value')!=='';}
      row.classList.toggle('filtered',!ok); if(ok){shown++;}
    }
    each('#leaderboard [data-region], #leaderboard [data-region-of]',function(c){
      var reg=c.getAttribute('data-region')||c.getAttribute('data-region-of');
      c.classList.toggle('other-region',!!r&&reg!==r);});
    document.getElementById('shown').textContent=shown+' of '+rows.length+' models shown';
  }
  text.addEventListener('input',applyFilter); region.addEventListener('change',applyFilter);
  applyFilter();

  var byName={}; data.models.forEach(function(m){byName[m.model]=m;});
  var selA=document.getElementById('compare-a'), selB=document.getElementById('compare-b');
  function esc(s){return String(s).replace(/[&<>"]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];});}
  function num(v){return v===null||v===undefined?'':v.toFixed(3);}
  function cell(v,href,why){
    if(v===null||v===undefined){return '<td class="missing" data-value="">–'+(why?'<span class="why">'+esc(why)+'</span>':'')+'</td>';}
    var t=num(v); return '<td class="num" data-value="'+v+'">'+(href?'<a href="'+esc(href)+'">'+t+'</a>':t)+'</td>';}
  function page(m){return 'models/'+data.pages[m.model];}
  function render(){
    var a=byName[selA.value], b=byName[selB.value], out=[];
    document.getElementById('compare-name-a').textContent=a.model;
    document.getElementById('compare-name-b').textContent=b.model;
    function line(key,label,region,va,vb,ha,hb,wa,wb){
      var d=(va===null||va===undefined||vb===null||vb===undefined)?null:va-vb;
      out.push('<tr data-key="'+esc(key)+'"><td class="text">'+esc(label)+'</td><td class="text">'+esc(region)+'</td>'+
        cell(va,ha,wa)+cell(vb,hb,wb)+cell(d,null,d===null?'':'')+'</tr>');}
    line('overall','overall','all regions',a.overall,b.overall,page(a),page(b));
    data.regions.forEach(function(r){line('region:'+r,r+' (mean)',r,a.regions[r],b.regions[r],
      page(a)+'#region-'+r,page(b)+'#region-'+r,'not scored','not scored');});
    data.benchmarks.forEach(function(bm){
      var x=a.benchmarks[bm.id]||null, y=b.benchmarks[bm.id]||null;
      line('bench:'+bm.id,bm.id+(bm.check?' (check)':''),bm.region,x&&x.normalized,y&&y.normalized,
        x&&('results.html#row-'+x.results_row),y&&('results.html#row-'+y.results_row),
        x?x.missing:'not scored',y?y.missing:'not scored');});
    document.querySelector('#compare tbody').innerHTML=out.join('');
  }
  selA.addEventListener('change',render); selB.addEventListener('change',render);
  if(data.models.length){render();}
})();
"""
