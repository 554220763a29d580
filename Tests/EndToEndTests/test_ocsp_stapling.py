"""Issue #16 item 3: OCSP stapling from a file (`ocsp:` on a certificate entry). A temporary CA
issues the served certificate; `openssl ocsp` makes DER responses from an index file. A good
response is stapled to clients that ask (`openssl s_client -status`); a response for another
certificate or signed by another key is refused at load with a warning naming the file, and
nothing is stapled; replacing the file and reloading staples the new response; `gatehouse cert
list --config` shows each certificate's staple status. (Expiry is checked with the clock passed
in, in OCSPStapleTests: `openssl ocsp` cannot make an already-expired response.)"""
import subprocess

import pytest

from conftest import BIN, CERTS, Process, free_port, gatehouse_config, require_binaries, wait_for_port

HOST = "mail.contoso.lab"


def run(args):
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, " ".join(map(str, args)) + "\n" + done.stdout + done.stderr
    return done.stdout


def make_ca(directory, subject):
    directory.mkdir()
    run([str(BIN / "gatehouse"), "cert", "new-self-signed", "--ca", "--name", "ca", "--subject", subject,
         "--out", str(directory)])
    return directory


def issue(ca_dir, name, out_dir):
    """A P-256 certificate for mail.contoso.lab signed by the CA in `ca_dir`; returns (chain, key)
    where the chain file holds the leaf and then the CA (the issuer must be in the file)."""
    run([str(BIN / "gatehouse"), "cert", "issue", "--ca", str(ca_dir), "--name", name, "--key", "p256",
         "--dns", HOST, "--out", str(out_dir)])
    leaf = (out_dir / f"{name}.pem").read_text()
    chain = out_dir / f"{name}-chain.pem"
    if leaf.count("BEGIN CERTIFICATE") == 1:
        chain.write_text(leaf + (ca_dir / "ca.pem").read_text())
    else:
        chain.write_text(leaf)
    return chain, out_dir / f"{name}.key"


def ocsp_response(ca_dir, certificate, out, signer_dir=None):
    """`openssl ocsp` as a one-shot responder: status good for `certificate`, signed by the CA in
    `signer_dir` (default: the issuing CA), valid for one day."""
    signer_dir = signer_dir or ca_dir
    serial = run(["openssl", "x509", "-in", str(certificate), "-noout", "-serial"]).strip().split("=")[1]
    index = out.with_suffix(".index")
    index.write_text(f"V\t301231235959Z\t\t{serial}\tunknown\t/CN={HOST}\n")
    run(["openssl", "ocsp", "-index", str(index), "-rsigner", str(signer_dir / "ca.pem"),
         "-rkey", str(signer_dir / "ca.key"), "-CA", str(ca_dir / "ca.pem"), "-issuer", str(ca_dir / "ca.pem"),
         "-cert", str(certificate), "-respout", str(out), "-ndays", "1"])
    return out


def staple_seen(port, host=HOST, version=None):
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", host, "-status"]
    done = subprocess.run(args + ([f"-{version}"] if version else []),
                          input="", capture_output=True, text=True, timeout=30)
    return done.stdout


@pytest.fixture
def pki(tmp_path):
    require_binaries()
    ca = make_ca(tmp_path / "ca", "CN=Gatehouse OCSP Test CA")
    other_ca = make_ca(tmp_path / "other-ca", "CN=Someone Else CA")
    out = tmp_path / "certs"
    out.mkdir()
    chain, key = issue(ca, "mail", out)
    other_chain, _ = issue(ca, "other", out)
    return {"ca": ca, "other_ca": other_ca, "chain": chain, "key": key, "other_chain": other_chain, "dir": tmp_path}


def start(sims, pki, ocsp_file):
    port, http_port, admin_port = free_port(), free_port(), free_port()
    text = gatehouse_config(port, http_port, admin_port, sims).replace(
        f"{{ cert: {CERTS}/mail-ecdsa.pem, key: {CERTS}/mail-ecdsa.key }}",
        f"{{ cert: {pki['chain']}, key: {pki['key']}, ocsp: {ocsp_file} }}")
    config = pki["dir"] / "gatehouse.yaml"
    config.write_text(text)
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse")
    wait_for_port(port, process.proc, log=process.output)
    return process, port, config


def test_a_good_response_is_stapled_for_clients_that_ask(sims, pki):
    response = ocsp_response(pki["ca"], pki["chain"], pki["dir"] / "mail.der")
    process, port, config = start(sims, pki, response)
    try:
        for version in ("tls1_2", "tls1_3"):
            output = staple_seen(port, version=version)
            assert f"{'TLSv1.2' if version == 'tls1_2' else 'TLSv1.3'}, Cipher is" in output, output[-3000:]
            assert "OCSP Response Status: successful" in output, output[-3000:]
            assert "Cert Status: good" in output, output[-3000:]
        assert "is not stapled" not in process.output()
        # Another certificate of the listener (the wildcard, by SNI) has no staple of its own.
        other = staple_seen(port, host="other.contoso.lab")
        assert "CN = *.contoso.lab" in other or "CN=*.contoso.lab" in other, other[-3000:]
        assert "OCSP response: no response sent" in other, other[-3000:]
        listed = run([str(BIN / "gatehouse"), "cert", "list", "--config", str(config), "--format", "json"])
        assert '"OcspStaple" : "good until ' in listed, listed
    finally:
        process.stop()


@pytest.mark.parametrize("problem", ["another certificate", "another signer"])
def test_a_wrong_response_is_refused_with_a_warning_and_reload_brings_a_good_one(sims, pki, problem):
    response = pki["dir"] / "mail.der"
    if problem == "another certificate":
        ocsp_response(pki["ca"], pki["other_chain"], response)
        reason = "the response is for another certificate"
    else:
        ocsp_response(pki["ca"], pki["chain"], response, signer_dir=pki["other_ca"])
        reason = "is not signed by the issuer"
    process, port, config = start(sims, pki, response)
    try:
        log = process.output()
        assert f"OCSP response {response}" in log and "is not stapled" in log and reason in log, log[-3000:]
        output = staple_seen(port)
        assert "OCSP response: no response sent" in output, output[-3000:]
        listed = run([str(BIN / "gatehouse"), "cert", "list", "--config", str(config)])
        assert "rejected: " in listed and reason in listed, listed

        # A good response in its place, then a reload: stapled from then on.
        ocsp_response(pki["ca"], pki["chain"], response)
        run([str(BIN / "gatehouse"), "reload", "--config", str(config)])
        output = staple_seen(port)
        assert "Cert Status: good" in output, output[-3000:]
    finally:
        process.stop()
