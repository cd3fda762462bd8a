import ChronikLog
import ChronikServer

// The JSON and event lines the CLI prints live in ChronikServer, so that
// the server answers with the same bytes (`read --json` = `GET /events/N`).
typealias JSONObject = ChronikServer.JSONObject
typealias EventPrinter = ChronikServer.EventPrinter

func eventJSON(_ e: RecordedEvent, decodedData: String? = nil) -> String {
    ChronikServer.eventJSON(e, decodedData: decodedData)
}

func eventText(_ e: RecordedEvent, decodedData: String? = nil) -> String {
    ChronikServer.eventText(e, decodedData: decodedData)
}

func jsonText(ofStored bytes: [UInt8]) -> String? {
    ChronikServer.jsonText(ofStored: bytes)
}
