#!/usr/bin/python3
"""deploy/logging/: the access-log lines a running Portico writes are what the fluent-bit and
fluentd configurations declare: JSON objects with exactly the fields deploy/logging/README.md
documents (of the documented types), a `time` that parses with the parsers' time format, and
CRI-wrapped lines that the configurations' CRI expressions split back into the same line."""

import datetime
import json
import re
import unittest

import harness

LOGGING = harness.source_dir() / "deploy" / "logging"

# The awkward request: a target with bytes that are not UTF-8 and with UTF-8 ones; a request
# id with quotes and a backslash.
AWKWARD = b"/q?a=%22x%22&b=\xff\xfe&c=\xc3\xa9"
AWKWARD_ID = b'req-2"quoted"\\back'


def fluent_bit_sections(text):
    """[(section name, {key: value})] of a fluent-bit classic-format file."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+)\]", s)
        if m:
            out.append((m.group(1), {}))
        else:
            k, _, v = s.partition(" ")
            out[-1][1][k] = v.strip()
    return out


def strptime_format(fluent_format):
    """A fluent-bit/fluentd (Ruby) time format as Python strptime's: %L (milliseconds) and %N
    (fraction) become %f, which takes 1 to 6 digits."""
    return fluent_format.replace("%L", "%f").replace("%N", "%f")


def ruby_regex(expr):
    """A Onigmo / Ruby regexp with (?<name>...) groups as a Python one."""
    return re.compile(expr.replace("(?<", "(?P<"))


def documented_fields():
    """{field: type text} from the README's field table."""
    text = (LOGGING / "README.md").read_text()
    table = text.split("## Fields", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", table, re.M)}


def fluentd_json_parse(text):
    """The <parse> of the filter with key_name log: {directive: value}."""
    block = text.split("@type parser", 1)[1].split("</parse>", 1)[0]
    block = block.split("<parse>", 1)[1]
    return dict(line.strip().split(None, 1) for line in block.splitlines() if line.strip()
                and not line.strip().startswith("#"))


class LoggingConfigTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = harness.temp_dir("portico-logging-")
        cls.ups = [harness.Upstream.start("a")]
        conf = harness.simple_config(cls.work / "conf", cls.ups, host="app.test",
                                     service_name="app")
        cls.portico = harness.Portico.start(conf, "--access-log=true")
        cls.t0 = datetime.datetime.now(datetime.timezone.utc)
        cls.statuses = []
        for host, target in (("app.test", b"/ok"), ("unknown.test", b"/nothing"),
                             ("app.test", AWKWARD)):
            with harness.Conn(cls.portico.http_port) as c:
                c.send(b"GET " + target + b" HTTP/1.1\r\nHost: " + host.encode() +
                       b"\r\nX-Request-ID: " + (AWKWARD_ID if target == AWKWARD else
                                                 b"req-" + str(len(cls.statuses)).encode()) +
                       b"\r\nConnection: close\r\n\r\n")
                cls.statuses.append(c.read_response("GET").status)
        # Lines are flushed every ~100 ms: wait for the third.
        harness.wait_until(lambda: cls.portico.count_lines(r"^\{", stream="stdout") >= 3, 30)
        cls.t1 = datetime.datetime.now(datetime.timezone.utc)
        cls.lines = [l for l in cls.portico.stdout_lines if l.startswith("{")]
        cls.records = [json.loads(l) for l in cls.lines]
        cls.by_id = {r["request_id"][:5]: r for r in cls.records}

    @classmethod
    def tearDownClass(cls):
        cls.portico.stop()
        for u in cls.ups:
            u.stop()

    def test_requests_were_answered_as_expected(self):
        self.assertEqual(self.statuses, [200, 404, 200])
        self.assertEqual(len(self.records), 3, self.lines)

    def test_every_line_has_exactly_the_documented_fields_and_types(self):
        fields = documented_fields()
        self.assertGreaterEqual(len(fields), 16)
        kinds = {"string": str, "number": (int, float)}
        for line, rec in zip(self.lines, self.records):
            with self.subTest(line=line):
                self.assertEqual(list(rec), list(fields), "fields or their order differ")
                for k, doc in fields.items():
                    allowed = tuple(t for word, t in kinds.items() if word in doc)
                    if rec[k] is None:
                        self.assertIn("null", doc, k)
                    else:
                        self.assertIsInstance(rec[k], allowed, k)
                        self.assertNotIsInstance(rec[k], bool, k)

    def test_values_of_an_upstream_answer_and_of_the_default_backend(self):
        ok, miss = self.by_id["req-0"], self.by_id["req-1"]
        self.assertEqual((ok["host"], ok["method"], ok["path"], ok["status"]),
                         ("app.test", "GET", "/ok", 200))
        self.assertEqual(ok["upstream_addr"], f"127.0.0.1:{self.ups[0].port}")
        self.assertEqual(ok["upstream_status"], 200)
        self.assertEqual((ok["namespace"], ok["ingress"], ok["service"]), ("default", "app", "app"))
        self.assertGreater(ok["bytes_in"], 0)
        self.assertGreater(ok["bytes_out"], 0)
        self.assertEqual(miss["status"], 404)
        self.assertIsNone(miss["upstream_addr"])
        self.assertIsNone(miss["upstream_status"])
        self.assertIsNone(miss["upstream_response_time"])
        self.assertEqual((miss["namespace"], miss["ingress"], miss["service"]), ("", "", ""))

    def test_awkward_bytes_still_give_one_json_line(self):
        rec = self.by_id["req-2"]
        line = self.lines[self.records.index(rec)]
        self.assertIn("\\u00ff\\u00fe", line)  # bytes that are not UTF-8
        self.assertIn('"req-2\\"quoted\\"\\\\back"', line)
        self.assertEqual(rec["path"], "/q?a=%22x%22&b=\u00ff\u00fe&c=\u00e9")
        self.assertEqual(rec["request_id"], AWKWARD_ID.decode())

    def time_formats(self):
        parsers = fluent_bit_sections((LOGGING / "parsers.conf").read_text())
        portico = next(kv for name, kv in parsers if name == "PARSER" and kv["Name"] == "portico")
        self.assertEqual((portico["Format"], portico["Time_Key"]), ("json", "time"))
        fluentd = fluentd_json_parse((LOGGING / "fluentd.conf").read_text())
        self.assertEqual((fluentd["@type"], fluentd["time_key"]), ("json", "time"))
        return {"fluent-bit": portico["Time_Format"], "fluentd": fluentd["time_format"]}

    def test_time_parses_with_the_declared_format(self):
        formats = self.time_formats()
        self.assertEqual(formats["fluent-bit"], "%Y-%m-%dT%H:%M:%S.%LZ")
        for who, fmt in formats.items():
            for rec in self.records:
                with self.subTest(parser=who, time=rec["time"]):
                    t = datetime.datetime.strptime(rec["time"], strptime_format(fmt))
                    t = t.replace(tzinfo=datetime.timezone.utc)  # the Z: UTC
                    self.assertRegex(rec["time"], r"\.\d{3}Z$")  # milliseconds, as %L reads
                    slack = datetime.timedelta(seconds=1)
                    self.assertLessEqual(self.t0 - slack, t)
                    self.assertLessEqual(t, self.t1 + slack)

    def test_portico_own_log_on_stderr_parses_the_same_way(self):
        lines = [l for l in self.portico.stderr_lines if l.startswith("{")]
        self.assertTrue(lines)
        for who, fmt in self.time_formats().items():
            for line in lines:
                rec = json.loads(line)
                self.assertIn("level", rec)
                self.assertIn("msg", rec)
                datetime.datetime.strptime(rec["time"], strptime_format(fmt))

    def cri_expressions(self):
        parsers = fluent_bit_sections((LOGGING / "parsers.conf").read_text())
        cri = next(kv for name, kv in parsers if name == "PARSER" and kv["Name"] == "cri-portico")
        src = (LOGGING / "fluentd.conf").read_text().split("<source>", 1)[1]
        fluentd = re.search(r"expression /(.*)/\s*$", src, re.M).group(1)
        return {"fluent-bit": (ruby_regex(cri["Regex"]), cri["Time_Format"]),
                "fluentd": (ruby_regex(fluentd),
                            re.search(r"time_format (.*)", src).group(1).strip())}

    def test_cri_wrapped_lines_split_back_into_portico_lines(self):
        for who, (rx, time_format) in self.cri_expressions().items():
            for line in self.lines:
                for tag in ("F", "P"):
                    wrapped = f"2026-11-25T20:10:46.123456789Z stdout {tag} {line}"
                    with self.subTest(parser=who, tag=tag, line=line[:60]):
                        m = rx.fullmatch(wrapped)
                        self.assertIsNotNone(m)
                        self.assertEqual((m.group("stream"), m.group("logtag")), ("stdout", tag))
                        self.assertEqual(m.group("log"), line)
                        self.assertEqual(json.loads(m.group("log")), json.loads(line))
            # The runtime's time (nanoseconds, "Z") parses with the declared format; Python's
            # %f takes at most 6 digits, so the nanoseconds are cut to microseconds.
            t = datetime.datetime.strptime("2026-11-25T20:10:46.123456Z",
                                           strptime_format(time_format))
            self.assertEqual(t.microsecond, 123456)
            # stderr records are told apart.
            m = rx.fullmatch("2026-11-25T20:10:46.1Z stderr F portico: listening http=80")
            self.assertEqual(m.group("stream"), "stderr")

    def test_fluent_bit_pipeline_uses_the_parsers(self):
        sections = fluent_bit_sections((LOGGING / "fluent-bit.conf").read_text())
        service = next(kv for n, kv in sections if n == "SERVICE")
        self.assertEqual(service["Parsers_File"], "parsers.conf")
        tail = next(kv for n, kv in sections if n == "INPUT")
        self.assertEqual((tail["Name"], tail["multiline.parser"]), ("tail", "cri"))
        self.assertIn("_portico_controller-", tail["Path"])
        parser = next(kv for n, kv in sections if n == "FILTER" and kv["Name"] == "parser")
        self.assertEqual((parser["Key_Name"], parser["Parser"]), ("log", "portico"))
        # The container and namespace in the path are the DaemonSet's.
        ds = (harness.source_dir() / "deploy" / "base" / "daemonset.yaml").read_text()
        self.assertIn("- name: controller\n", ds)
        kust = (harness.source_dir() / "deploy" / "base" / "kustomization.yaml").read_text()
        self.assertIn("namespace: portico\n", kust)

    def test_portico_writes_no_access_log_when_turned_off(self):
        conf = harness.simple_config(self.work / "conf-off", self.ups, host="app.test",
                                     service_name="app")
        p = harness.Portico.start(conf, "--access-log=false")
        try:
            self.assertEqual(p.get("/ok", host="app.test").status, 200)
        finally:
            p.stop()
        self.assertEqual([l for l in p.stdout_lines if l.startswith("{")], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
