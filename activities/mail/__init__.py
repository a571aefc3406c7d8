"""Email for trips: render a template (`render`), build the MIME message (`message`) and
hand it to a pooled SMTP connection (`smtp`). The send ledger lives in `activities.send`."""
