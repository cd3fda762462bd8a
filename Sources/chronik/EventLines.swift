import ChronikCommerce
import ChronikLog
import Foundation

/// One input line of `chronik append`, parsed.
struct EventLine: Sendable {
    var line: Int
    var envelope: CommerceEnvelope
    /// The content's digest when the line carried its own `id` (nil: one
    /// was generated), computed by the parse worker for `InputIDs.admit`.
    var digest: ContentDigest?
    /// Whether the line carried its own `id` (else one was generated).
    var hasExplicitID: Bool { digest != nil }

    var stream: String { envelope.stream }
    var event: ProposedEvent { envelope.proposed }
}

/// Parses the lines of `chronik append` with the one envelope parser of
/// ChronikCommerce (`CommerceEnvelope.parseNotingID`, and its fast path
/// `parseCommonLine` for an unknown type, which gives the same), the one
/// `import` uses: the same JSON parser, the same messages, and for a type of
/// EVENTS.md the same schema and validation. Where append is the
/// engine-level door (`Rules.engine`): an unknown type's `data` may be any
/// JSON value, and data and meta are stored with their keys sorted, so that
/// re-appending `read --json` output is an idempotent retry.
struct EventLineParser {
    let maxEventBytes: Int
    private var ids = InputIDs()

    /// What a line is.
    enum Parsed {
        case event(EventLine)
        /// The same id and content as an earlier line: a retry.
        case retry(line: Int, of: Int)
    }

    init(maxEventBytes: Int) {
        self.maxEventBytes = maxEventBytes
    }

    /// `CHRONIK_STRICT_PARSE=1`: every line through the strict parser
    /// (`JSONValue` tree), not the fast path of the common line — to compare
    /// the two (Benchmarks/README.md, stop 19).
    static let strictOnly = ProcessInfo.processInfo.environment["CHRONIK_STRICT_PARSE"] == "1"

    /// What can be decided of a line on its own: parsed, validated, sized.
    /// Pure, so that lines are parsed on every core (`ParallelLineMap`);
    /// `admit` then decides them in line order. Returns nil for a blank
    /// line.
    static func parseAlone(_ bytes: ArraySlice<UInt8>, line: Int, maxEventBytes: Int) -> Result<EventLine, CommerceError>? {
        if CommerceImport.isBlank(bytes) { return nil }
        do throws(CommerceError) {
            let parsed: (envelope: CommerceEnvelope, idWasGiven: Bool)
            if !strictOnly, let fast = try CommerceEnvelope.parseCommonLine(bytes, rules: .engine) {
                // An unknown type read straight from the bytes; what the
                // strict path below would give (EnvelopeFastPathTests).
                parsed = fast
            } else {
                let value = try ChronikCommerce.JSONValue.parse(bytes)
                // Personal data is only ever stored encrypted (docs/GDPR.md),
                // which takes the key store: such types go through `import`.
                if case .object(let members) = value, let t = members.first(where: { $0.key == "type" }),
                   case .string(let name) = t.value,
                   let known = CommerceEventType(name: name) {
                    if !known.schema.piiFieldPaths.isEmpty {
                        throw CommerceError(.invalidEventType, field: "type",
                                            "\(name) carries personal data, which Chronik stores only encrypted: use `chronik import` for it")
                    }
                    // An erasure is the event and the key destroyed together
                    // (docs/GDPR.md); append holds no key store, and a
                    // CustomerForgotten appended here left the data readable
                    // while the models said erased (stop 33).
                    if known == .customerForgotten {
                        throw CommerceError(.invalidEventType, field: "type",
                                            "CustomerForgotten erases personal data, which takes destroying the customer's key too: use `chronik forget customer ID` (or `chronik import`)")
                    }
                }
                parsed = try CommerceEnvelope.parseNotingID(value: value, rules: .engine)
            }
            let (env, hasID) = parsed
            // Card numbers are never stored, in prose neither (issue 10.13):
            // EVENTS.md's types are checked by their validation, the others'
            // raw data by the same rule here (meta by the envelope).
            if CommerceEventType(name: env.proposed.type) == nil,
               let field = Validation.cardNumberInFreeText(json: env.proposed.data) {
                throw CommerceError(.cardNumber, field: "data." + field,
                                    "data.\(field) contains a card number (13–19 digits passing Luhn); card numbers are never accepted")
            }
            let size = env.proposed.encodedByteCount
            guard size <= maxEventBytes else {
                throw CommerceError(.eventTooLarge,
                                    "event is \(size) bytes encoded, at most \(maxEventBytes) allowed (see --max-event-bytes)")
            }
            return .success(EventLine(line: line, envelope: env, digest: hasID ? ContentDigest(env) : nil))
        } catch {
            var e = error
            e.line = line
            return .failure(e)
        }
    }

    /// Decides a parsed line against the lines before it (in line order):
    /// an id and content seen before is a retry.
    mutating func admit(_ parsed: Result<EventLine, CommerceError>?) -> Result<Parsed, CommerceError>? {
        let l: EventLine
        switch parsed {
        case nil: return nil
        case .failure(let e)?: return .failure(e)
        case .success(let parsedLine)?: l = parsedLine
        }
        guard let digest = l.digest else { return .success(.event(l)) }
        do throws(CommerceError) {
            if case .retry(let first) = try ids.admit(l.event.id, digest: digest, line: l.line) {
                return .success(.retry(line: l.line, of: first))
            }
            return .success(.event(l))
        } catch {
            var e = error
            e.line = l.line
            return .failure(e)
        }
    }

}
