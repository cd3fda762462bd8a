import ChronikServer
import Foundation
import Testing

/// Stop 42: a server outlived SIGTERM with every thread idle. On Linux a
/// Dispatch signal source takes effect once libdispatch has installed its
/// handler, on its manager thread, a moment after `resume()`; until then
/// the SIG_IGN set before it drops a signal. `ShutdownSignals` returns only
/// once the handler is there.
@Suite(.serialized) struct ShutdownSignalsTests {
    @Test func theHandlersAreInstalledWhenItReturns() {
        for _ in 0..<20 {
            let signals = ShutdownSignals()
            #expect(!ShutdownSignals.ignores(SIGTERM) && !ShutdownSignals.ignores(SIGINT))
            withExtendedLifetime(signals) {}
        }
    }
}
