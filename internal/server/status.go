package server

// StatusClientGone is the status the audit log and request log record for
// a request whose client went away before it was answered (nginx's 499):
// nothing was sent, so no real status applies.
const StatusClientGone = 499
