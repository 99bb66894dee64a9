"""Print the messages of a Maildir as JSON, for the email tests (Rust and e2e).

Each message: its file name, every header (decoded), and the text and HTML parts
decoded from their transfer encoding, so that tests can follow the links in them.
"""
import json
import mailbox
import sys
from email import policy
from email.parser import BytesParser


def main(path):
    out = []
    box = mailbox.Maildir(path, create=False)
    for key in sorted(box.keys()):
        with box.get_file(key) as f:
            msg = BytesParser(policy=policy.default).parse(f)
        text = html = None
        for part in msg.walk():
            if part.get_content_maintype() == "multipart":
                continue
            if part.get_content_type() == "text/plain" and text is None:
                text = part.get_content()
            elif part.get_content_type() == "text/html" and html is None:
                html = part.get_content()
        out.append({
            "file": key,
            "headers": {k.lower(): str(v) for k, v in msg.items()},
            "content_type": msg.get_content_type(),
            "text": text,
            "html": html,
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
