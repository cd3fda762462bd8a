// ChronikAudit: what auditors and data-protection requests need on top of
// the log — full verification, signed digests of the head, audit exports,
// and per-subject encryption of personal data (GDPR).
import ChronikLog
