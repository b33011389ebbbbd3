"""Speed and quality benchmarks behind `rlrec bench`: each returns a JSON-ready dict."""
