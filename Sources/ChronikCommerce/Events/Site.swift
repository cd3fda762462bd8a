// Site events (EVENTS.md).
// The field order in `visit` is the stored binary order: see
// docs/EVENTS-CODEC.md before changing it.

/// `SettingChanged`: a site setting changes. Stream `settings`.
public struct SettingChanged: CommerceEventPayload {
    public static let typeName = "SettingChanged"
    public static let schemaVersion: UInt8 = 1

    public var key: String = ""
    public var value: String = ""
    public var actor: String = ""

    /// Every field at its zero value (for decoders).
    public init() {}

    public init(key: String, value: String, actor: String) {
        self.key = key
        self.value = value
        self.actor = actor
    }

    public var stream: String { "settings" }

    public mutating func visit<V: FieldVisitor>(_ v: inout V) throws(CommerceError) {
        try v.text("key", &key, pii: false)
        try v.text("value", &value, pii: false)
        try v.text("actor", &actor, pii: false)
    }
}
