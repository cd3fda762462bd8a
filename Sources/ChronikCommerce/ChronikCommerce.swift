// ChronikCommerce: the shop's event vocabulary (../shared/spec/EVENTS.md)
// on top of ChronikLog.
@_exported import ChronikLog
