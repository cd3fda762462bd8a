import Hummingbird

extension LogServer {
    /// `GET /openapi.json`: the OpenAPI 3.1 document of this API
    /// (docs/openapi.json, compiled in), open without a token so that
    /// client generators and API tools can start from it.
    static func openAPIResponse() -> Response {
        jsonResponse(openAPIDocument)
    }
}
