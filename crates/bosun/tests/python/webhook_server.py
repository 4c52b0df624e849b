"""An admission webhook for the tests: HTTPS on 127.0.0.1, answering AdmissionReviews.

Usage: webhook_server.py CERT KEY PORT_FILE LOG_FILE

Paths:
  /mutate    adds the label mutated-by=webhook (JSONPatch) and a warning
  /validate  refuses objects labelled deny=true with a 403 and a message
  /slow      answers after 5 seconds (for timeouts)
Each review's request is appended to LOG_FILE as one JSON line. The bound port is written to
PORT_FILE once the server listens.
"""

import base64
import json
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT, KEY, PORT_FILE, LOG_FILE = sys.argv[1:5]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        review = json.loads(body)
        request = review["request"]
        with open(LOG_FILE, "a") as log:
            log.write(json.dumps({"path": self.path, "request": request}) + "\n")
        response = {"uid": request["uid"], "allowed": True}
        path = self.path.split("?")[0]
        obj = request.get("object") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if path == "/mutate":
            ops = []
            if not labels:
                ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
            ops.append({"op": "add", "path": "/metadata/labels/mutated-by", "value": "webhook"})
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(ops).encode()).decode()
            response["warnings"] = ["mutated by the test webhook"]
        elif path == "/validate":
            if labels.get("deny") == "true":
                response["allowed"] = False
                response["status"] = {"code": 403, "message": "objects labelled deny are not welcome"}
        elif path == "/slow":
            time.sleep(5)
        answer = json.dumps({"apiVersion": review["apiVersion"], "kind": "AdmissionReview",
                             "response": response}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
