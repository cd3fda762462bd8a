import Testing
@testable import ChronikAudit

@Suite struct AuditModuleTests {
    @Test func moduleLinks() {
        #expect(Bool(true))
    }
}
