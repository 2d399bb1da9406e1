#!/usr/bin/env python3
"""tls_test.py CRYPTSTORED: the TLS listener and mutual TLS, end to end.

A test CA made here with the openssl command-line tool signs the server's
certificate (for 127.0.0.1) and client certificates; a second CA signs a
rogue one.  The real server is driven by aws-cli (Debian's), boto3 and
`openssl s_client`:

  - start-up refuses a readable private key, a key without a certificate and
    a key that does not match its certificate, each with a clear message;
  - HTTPS only: aws-cli with --ca-bundle copies a multipart object up and
    down bit-exact, and fails without the CA; boto3 PUT/GET bit-exact; a
    keep-alive connection parked between requests resumes; TLS 1.3 is
    negotiated and TLS 1.2 refused (the default minimum); a plaintext
    request gets no HTTP answer; a silent connection is closed at the head
    timeout (a slow handshake is a slowloris too);
  - mutual TLS: with the demo user's certificate requests work, without one
    or with one of a foreign CA the handshake fails, and a certificate of
    another user with the demo user's access key gets 403 AccessDenied; with
    tls_client_auth = optional a client without a certificate is served.

Prints TAP.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MiB, Server, Tap, die, err_code, sanitizer_lines  # noqa: E402

HEAD_TIMEOUT = 2


def sh(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          **kw)


def make_pki(d):
    """CA, server certificate for 127.0.0.1/localhost, client certificates
    CN=demo and CN=mallory, and a rogue CA's CN=demo.  Returns a dict of paths."""
    p = {}

    def key(name):
        path = os.path.join(d, name + ".key")
        r = sh(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path])
        if r.returncode != 0:
            die("openssl genpkey: " + r.stdout)
        os.chmod(path, 0o600)
        return path

    def ca(name):
        k = key(name)
        c = os.path.join(d, name + ".pem")
        r = sh(["openssl", "req", "-x509", "-new", "-key", k, "-out", c, "-days", "2",
                "-subj", "/CN=cryptstore test " + name, "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
        if r.returncode != 0:
            die("openssl req (CA): " + r.stdout)
        return k, c

    def leaf(name, cn, ca_key, ca_pem, ext):
        k = key(name)
        csr = os.path.join(d, name + ".csr")
        c = os.path.join(d, name + ".pem")
        extf = os.path.join(d, name + ".ext")
        with open(extf, "w") as f:
            f.write(ext)
        r = sh(["openssl", "req", "-new", "-key", k, "-out", csr, "-subj", "/CN=" + cn])
        if r.returncode == 0:
            r = sh(["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", c, "-days", "2", "-extfile", extf])
        if r.returncode != 0:
            die("openssl (leaf %s): %s" % (name, r.stdout))
        return k, c

    p["ca_key"], p["ca"] = ca("ca")
    p["rogue_key"], p["rogue"] = ca("rogue")
    p["srv_key"], p["srv"] = leaf(
        "server", "localhost", p["ca_key"], p["ca"],
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    cli = "extendedKeyUsage=clientAuth\n"
    p["demo_key"], p["demo"] = leaf("demo", "demo", p["ca_key"], p["ca"], cli)
    p["mallory_key"], p["mallory"] = leaf("mallory", "mallory", p["ca_key"], p["ca"], cli)
    p["rdemo_key"], p["rdemo"] = leaf("rdemo", "demo", p["rogue_key"], p["rogue"], cli)
    p["other_key"] = key("other")  # matches no certificate
    return p


def start_fails(binary, base, name, extra):
    """Start a server that must refuse: (exit status, its log)."""
    s = Server(binary, base, name=name, extra=extra)
    s.spawn()
    try:
        rc = s.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        s.stop()
        rc = None
    return rc, s.log_since(0)


def s_client(port, *args):
    """openssl s_client against the server; (returncode, output)."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost"] + list(args),
                       input="", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=30)
    return r.returncode, r.stdout


def aws_env(home):
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("AWS_", "BOTO_")) and "PROXY" not in k.upper()}
    env.update(HOME=home, AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true", LC_ALL="C.UTF-8",
               LANG="C.UTF-8", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=os.path.join(home, "config"),
               AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "credentials"))
    with open(env["AWS_CONFIG_FILE"], "w") as f:
        f.write("[default]\nregion = us-east-1\nretry_mode = standard\nmax_attempts = 1\n"
                "s3 =\n    addressing_style = path\n")
    return env


def aws_bin():
    for p in ("/usr/bin/aws", "/bin/aws"):
        if os.access(p, os.X_OK):
            return p
    return shutil.which("aws")


def main():
    if len(sys.argv) != 2:
        die("usage: tls_test.py CRYPTSTORED")
    binary = os.path.abspath(sys.argv[1])
    t = Tap()
    base = tempfile.mkdtemp(prefix="cs-tls-")
    pki = make_pki(os.path.join(base))
    tls = ["--tls-cert", pki["srv"], "--tls-key", pki["srv_key"],
           "--header-timeout", str(HEAD_TIMEOUT)]

    # ---- start-up refusals -------------------------------------------------
    loose = os.path.join(base, "loose.key")
    shutil.copy(pki["srv_key"], loose)
    os.chmod(loose, 0o644)
    rc, log = start_fails(binary, base, "loose", ["--tls-cert", pki["srv"], "--tls-key", loose])
    t.ok(rc not in (0, None) and "chmod 600" in log,
         "a private key readable by others is refused at start (exit %s)" % rc, log.splitlines())
    rc, log = start_fails(binary, base, "nokey", ["--tls-cert", pki["srv"]])
    t.ok(rc not in (0, None) and "both tls_cert and tls_key" in log,
         "a certificate without a key is refused (exit %s)" % rc, log.splitlines())
    rc, log = start_fails(binary, base, "mismatch",
                          ["--tls-cert", pki["srv"], "--tls-key", pki["other_key"]])
    t.ok(rc not in (0, None) and "does not match" in log,
         "a key that does not match the certificate is refused (exit %s)" % rc,
         log.splitlines())
    rc, log = start_fails(binary, base, "badver", tls + ["--tls-min-version", "1.1"])
    t.ok(rc not in (0, None) and "tls_min_version" in log,
         "tls_min_version 1.1 is refused (exit %s)" % rc, log.splitlines())

    # ---- HTTPS ---------------------------------------------------------------
    srv = Server(binary, base, name="srv", extra=tls)
    srv.scheme, srv.ca_bundle = "https", pki["ca"]
    try:
        srv.start()
    except Exception as e:  # noqa: BLE001
        die("TLS server did not start: %s" % e)
    port = srv.port
    c = srv.client("s0", pool=1)
    data = os.urandom(40 * MiB + 12345)
    c.put_object(Bucket="level-s0", Key="big", Body=data)
    got = c.get_object(Bucket="level-s0", Key="big")["Body"].read()
    t.ok(got == data, "boto3 over https: 40 MiB PUT and GET bit-exact")
    got = c.get_object(Bucket="level-s0", Key="big", Range="bytes=1000000-1999999")["Body"].read()
    t.ok(got == data[1000000:2000000], "boto3 over https: a ranged GET")
    time.sleep(0.3)  # the connection is parked between requests (20 ms grace)
    try:
        c.head_object(Bucket="level-s0", Key="big")
        parked_ok = True
    except Exception as e:  # noqa: BLE001
        parked_ok = str(e)
    t.ok(parked_ok is True, "a keep-alive TLS connection parked between requests resumes",
         [parked_ok])

    aws = aws_bin()
    if aws is None:
        t.skip("aws-cli over https with the test CA", "aws-cli not installed")
    else:
        home = os.path.join(base, "awshome")
        os.makedirs(home, 0o700)
        env = aws_env(home)
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = srv.creds["s1"]
        src = os.path.join(base, "up.bin")
        back = os.path.join(base, "down.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(21 * MiB + 7))  # above aws-cli's 8 MiB multipart threshold
        url = "https://127.0.0.1:%d" % port
        r1 = sh([aws, "--endpoint-url", url, "--ca-bundle", pki["ca"], "s3", "cp", src,
                 "s3://level-s1/aws.bin"], env=env, timeout=300)
        r2 = sh([aws, "--endpoint-url", url, "--ca-bundle", pki["ca"], "s3", "cp",
                 "s3://level-s1/aws.bin", back], env=env, timeout=300)
        same = r1.returncode == 0 and r2.returncode == 0 and os.path.exists(back) and \
            hashlib.sha256(open(src, "rb").read()).digest() == \
            hashlib.sha256(open(back, "rb").read()).digest()
        t.ok(same, "aws-cli with --ca-bundle: 21 MiB multipart upload and download bit-exact",
             (r1.stdout + r2.stdout).splitlines())
        r3 = sh([aws, "--endpoint-url", url, "s3", "ls", "s3://level-s1/"], env=env,
                timeout=120)
        t.ok(r3.returncode != 0 and "certificate" in r3.stdout.lower(),
             "aws-cli without the test CA refuses the server's certificate (rc %d)" %
             r3.returncode, r3.stdout.splitlines())

    rc, out = s_client(port, "-tls1_3", "-CAfile", pki["ca"], "-verify_return_error")
    t.ok(rc == 0 and "TLSv1.3" in out and "Verify return code: 0 (ok)" in out,
         "openssl s_client: TLSv1.3 negotiated, the chain verifies", out.splitlines()[-30:])
    rc, out = s_client(port, "-tls1_2")
    t.ok(rc != 0 and "New, TLSv1.2" not in out,
         "TLS 1.2 is refused by default (tls_min_version 1.3)", out.splitlines()[-20:])

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = b""
        try:
            while True:
                k = s.recv(4096)
                if not k:
                    break
                buf += k
        except OSError:
            pass
    t.ok(not buf.startswith(b"HTTP/"), "plaintext HTTP on the TLS port gets no HTTP answer",
         [repr(buf[:80])])

    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        t0 = time.monotonic()
        try:
            closed = s.recv(1) == b""
        except OSError:
            closed = True
        dt = time.monotonic() - t0
    t.ok(closed and HEAD_TIMEOUT - 0.5 <= dt <= HEAD_TIMEOUT + 3,
         "a connection that never says hello is closed at the head timeout (%.2f s, limit %d s)"
         % (dt, HEAD_TIMEOUT))
    log = srv.log_since(0)
    t.ok(srv.stop() == 0, "the TLS server stops cleanly on SIGTERM")
    t.ok(not sanitizer_lines(log), "no sanitizer reports (https)", sanitizer_lines(log))

    # ---- mutual TLS ----------------------------------------------------------
    srv.extra = tls + ["--tls-client-ca", pki["ca"]]
    srv.client_cert = (pki["demo"], pki["demo_key"])
    srv.forget_clients()
    try:
        srv.start()
    except Exception as e:  # noqa: BLE001
        die("mutual-TLS server did not start: %s" % e)
    c = srv.client("s0", pool=1, fresh=True)
    ok = c.get_object(Bucket="level-s0", Key="big")["Body"].read() == data
    c.put_object(Bucket="level-s0", Key="mtls", Body=b"with a certificate")
    ok = ok and c.get_object(Bucket="level-s0", Key="mtls")["Body"].read() == \
        b"with a certificate"
    t.ok(ok, "mutual TLS: the demo user's certificate and key: GET and PUT work")

    def attempt(cert, level="s0"):
        srv.client_cert = cert
        cc = srv.client(level, pool=1, fresh=True, connect_timeout=5, read_timeout=10)
        try:
            cc.head_object(Bucket="level-s0", Key="mtls")
            return ("ok", None)
        except Exception as e:  # noqa: BLE001
            return (type(e).__name__, err_code(e))

    r = attempt(None)
    t.ok(r[0] != "ok" and r[1] == (None, None),
         "mutual TLS: no client certificate, no HTTP answer (%s)" % r[0])
    r = attempt((pki["rdemo"], pki["rdemo_key"]))
    t.ok(r[0] != "ok" and r[1] == (None, None),
         "mutual TLS: a certificate of a foreign CA (CN=demo) is refused in the handshake (%s)"
         % r[0])
    r = attempt((pki["mallory"], pki["mallory_key"]))
    t.ok(r[1] is not None and r[1][1] == 403,
         "mutual TLS: certificate of 'mallory' with the demo user's key: 403 (%s)" % (r[1],))
    log = srv.log_since(0)
    t.ok("client certificate of 'mallory', key of 'demo'" in log,
         "the refusal is logged with both names")
    rc, out = s_client(srv.port, "-CAfile", pki["ca"])
    t.ok("Acceptable client certificate CA names" in out and "CN = cryptstore test ca" in out,
         "the server asks for a client certificate and names the test CA",
         out.splitlines()[-20:])
    t.ok(srv.stop() == 0, "the mutual-TLS server stops cleanly")

    srv.extra = tls + ["--tls-client-ca", pki["ca"], "--tls-client-auth", "optional"]
    srv.client_cert = (pki["demo"], pki["demo_key"])
    srv.forget_clients()
    srv.start()
    r = attempt(None)
    t.ok(r[0] == "ok", "tls_client_auth optional: a client without a certificate is served",
         [r])
    r = attempt((pki["mallory"], pki["mallory_key"]))
    t.ok(r[1] is not None and r[1][1] == 403,
         "tls_client_auth optional: a certificate still binds its user (403 for mallory)",
         [r])
    log = srv.log_since(0)
    t.ok(srv.stop() == 0, "the optional-mTLS server stops cleanly")
    t.ok(not sanitizer_lines(log), "no sanitizer reports (mutual TLS)", sanitizer_lines(log))
    shutil.rmtree(base, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
