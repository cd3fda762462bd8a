import Testing
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections

@Suite struct ProjectionErrorTests {
    @Test func errorNamesPositionAndType() {
        let e = ProjectionError(.invalidEvent, "cannot fold", position: Position(42), eventType: "OrderPlaced")
        #expect(e.description == "cannot fold (at position 42, OrderPlaced)")
    }
}
