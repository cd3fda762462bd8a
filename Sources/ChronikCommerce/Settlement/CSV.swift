// A small RFC 4180 reader and writer: settlement reports are CSV, and the
// two listed CSV packages would be this module's first dependency for
// about a hundred lines. Tested with quotes, embedded commas and
// newlines, a BOM and CRLF (Tests/ChronikCommerceTests/CSVTests.swift).

/// One record of a CSV file.
public struct CSVRecord: Sendable, Equatable {
    /// The physical line (1-based) the record starts on.
    public var line: Int
    public var fields: [String]
}

/// A CSV file that does not parse.
public struct CSVError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    /// 1-based column of the field.
    public var column: Int
    public var message: String
    public var description: String { "line \(line), column \(column): \(message)" }
}

public enum CSV {
    /// Parses `bytes` (UTF-8, an optional BOM, LF or CRLF line ends; a
    /// final line end is optional). Quoted fields may hold commas, quotes
    /// (doubled) and line ends. Blank lines are skipped.
    ///
    /// - Throws: `CSVError` for a quote inside an unquoted field, text
    ///   after a closing quote, an unterminated quote, or bytes that are
    ///   not UTF-8.
    public static func parse(_ bytes: [UInt8]) throws(CSVError) -> [CSVRecord] {
        var i = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
        var records: [CSVRecord] = []
        var line = 1
        var fields: [String] = []
        var field: [UInt8] = []
        var recordLine = 1
        var quoted = false          // the current field started with a quote
        var inQuotes = false        // inside the quotes of the current field
        var afterQuote = false      // the closing quote was read
        var fieldStarted = false

        func finishField() throws(CSVError) {
            guard let s = String(validating: field, as: UTF8.self) else {
                throw CSVError(line: line, column: fields.count + 1, message: "the field is not UTF-8")
            }
            fields.append(s)
            field.removeAll(keepingCapacity: true)
            quoted = false
            afterQuote = false
            fieldStarted = false
        }
        func finishRecord() throws(CSVError) {
            try finishField()
            if !(fields.count == 1 && fields[0].isEmpty && !quoted) {
                records.append(CSVRecord(line: recordLine, fields: fields))
            }
            fields.removeAll(keepingCapacity: true)
        }

        while i < bytes.count {
            let b = bytes[i]
            if inQuotes {
                if b == 0x22 {
                    if i + 1 < bytes.count, bytes[i + 1] == 0x22 {
                        field.append(0x22)
                        i += 2
                        continue
                    }
                    inQuotes = false
                    afterQuote = true
                } else {
                    if b == 0x0A { line += 1 }
                    field.append(b)
                }
                i += 1
                continue
            }
            switch b {
            case 0x2C: // ,
                try finishField()
            case 0x0D where i + 1 < bytes.count && bytes[i + 1] == 0x0A:
                i += 1
                try finishRecord()
                line += 1
                recordLine = line
            case 0x0A:
                try finishRecord()
                line += 1
                recordLine = line
            case 0x22:
                guard !fieldStarted else {
                    throw CSVError(line: line, column: fields.count + 1,
                                   message: afterQuote ? "a quote after the closing quote" : "a quote inside an unquoted field (quote the whole field and double the quote)")
                }
                quoted = true
                inQuotes = true
                fieldStarted = true
            default:
                guard !afterQuote else {
                    throw CSVError(line: line, column: fields.count + 1, message: "text after the closing quote")
                }
                field.append(b)
                fieldStarted = true
            }
            i += 1
        }
        if inQuotes {
            throw CSVError(line: recordLine, column: fields.count + 1, message: "a quoted field is not closed")
        }
        if fieldStarted || !fields.isEmpty { try finishRecord() }
        return records
    }

    /// One field as CSV: quoted when it holds a comma, quote, CR or LF.
    public static func field(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return s }
        var out = "\""
        for c in s { if c == "\"" { out += "\"\"" } else { out.append(c) } }
        return out + "\""
    }

    /// One record as a CSV line ending in CRLF (RFC 4180).
    public static func line(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\r\n"
    }
}
