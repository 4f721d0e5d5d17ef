import pytest

from neuroalign.data import registry as reg
from neuroalign.errors import ChecksumError, DatasetUnavailableError, UnknownKeyError


def test_every_shared_file_verifies(data_root):
    rows = reg.status(present_only=True)
    present = {(r["dataset"], r["file"]) for r in rows}
    assert ("cowley2023_v4", "responses_raw/responses_210325.npy") in present
    # every registered file in the shared folder, counted from the folder (it grows as sessions are added)
    on_disk = {(d.name, str(f.relative_to(d))) for d in data_root.iterdir() if d.is_dir()
               for f in d.rglob("*") if f.is_file()}
    expected = {k for k in on_disk if k[1] in reg.get_dataset(k[0]).files}
    assert present == expected and len(expected) >= 12
    assert all(r["checksum"] == "ok" for r in rows)


def test_registry_knows_upstream_urls_and_hashes():
    ds = reg.get_dataset("cowley2023_v4")
    assert ds.url("images/images_210325.zip").endswith("data_V4_responses/images/images_210325.zip")
    assert sum(f.sha256 is None for f in ds.files.values()) > 0  # unhashed upstream files registered too
    assert len(reg.get_dataset("kriegeskorte2008_92").files) == 3


def test_checksum_mismatch_is_an_error(tmp_path, monkeypatch, data_root):
    target = tmp_path / "kriegeskorte2008_92"
    target.mkdir()
    src = data_root / "kriegeskorte2008_92" / "92_behavRDMs.mat"
    data = bytearray(src.read_bytes())
    data[-1] ^= 0xFF
    (target / "92_behavRDMs.mat").write_bytes(bytes(data))
    monkeypatch.setenv("NEUROALIGN_DATA", str(tmp_path))
    reg.get_dataset("kriegeskorte2008_92")._verified.clear()
    with pytest.raises(ChecksumError, match="92_behavRDMs.mat.*expected SHA-256"):
        reg.fetch("kriegeskorte2008_92", "92_behavRDMs.mat")


def test_offline_missing_names_file_dir_and_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROALIGN_DATA", str(tmp_path))
    monkeypatch.setenv("NEUROALIGN_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError) as err:
        reg.fetch("kriegeskorte2008_92", "92_brainRDMs.mat")
    msg = str(err.value)
    assert "92_brainRDMs.mat" in msg and str(tmp_path) in msg and "NEUROALIGN_DATA" in msg


def test_failed_download_is_clear(tmp_path, monkeypatch):
    """Offline, the one-line error is all a user sees: no pooch "Downloading data from" line
    before it, and pooch's log level is left as it was."""
    import logging

    import pooch

    monkeypatch.setenv("NEUROALIGN_DATA", str(tmp_path))
    monkeypatch.delenv("NEUROALIGN_OFFLINE", raising=False)
    ds = reg.get_dataset("kriegeskorte2008_92")
    monkeypatch.setattr(ds, "base_url", "http://127.0.0.1:9/nothing-listens-here")
    logger = pooch.get_logger()  # its own Logger, outside logging's tree: caplog does not see it
    seen = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # the line is an INFO record
    try:
        with pytest.raises(DatasetUnavailableError, match="downloading http://127.0.0.1:9/.*failed"):
            reg.fetch("kriegeskorte2008_92", "92_behavRDMs.mat")
    finally:
        logger.removeHandler(handler)
    assert not (tmp_path / "kriegeskorte2008_92" / "92_behavRDMs.mat").exists()
    assert seen == [] and logger.level == logging.INFO


def test_unknown_dataset_suggests():
    with pytest.raises(UnknownKeyError, match="Did you mean 'cowley2023_v4'"):
        reg.get_dataset("cowley2023")


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("NEUROALIGN_DATA", str(tmp_path / "env"))
    assert reg.data_dir(tmp_path / "cfg") == (tmp_path / "env").resolve()
    monkeypatch.delenv("NEUROALIGN_DATA")
    assert reg.data_dir(tmp_path / "cfg") == (tmp_path / "cfg").resolve()
    assert "neuroalign" in str(reg.data_dir())
