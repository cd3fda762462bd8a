import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The server's file descriptors: each connection and each subscription
/// holds one, and so do the log's segments and key files. Running out
/// crashed the server (stop 38, a chaos test with `ulimit -n 64` and 40
/// subscribers: libdispatch trapped, SIGILL, when it could not open
/// /proc files for its threads; with subscribers only, /health went
/// unanswered). So the soft limit is raised to the hard one at start, and
/// a subscription is refused while fewer than `reserve` are left.
public enum FileDescriptors {
    /// The soft limit on open descriptors (0 when unknown).
    public static var limit: Int {
        var l = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l) == 0 else { return 0 }
        return l.rlim_cur == rlim_t.max ? Int.max : Int(clamping: l.rlim_cur)
    }

    /// Descriptors open now (the entries of /proc/self/fd, less the one
    /// that reads them); 0 when unknown.
    public static var open: Int {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return 0 }
        return max(0, entries.count - 1)
    }

    /// Descriptors kept free of subscriptions, for appends, reads and the
    /// server's own files and threads.
    public static func reserve(for limit: Int) -> Int { max(32, limit / 10) }

    /// Raises the soft limit to the hard one (at most 1,048,576), as Go's
    /// runtime does for every program; returns the limit now in force.
    @discardableResult
    public static func raiseSoftLimit() -> Int {
        var l = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l) == 0 else { return 0 }
        let wanted = min(l.rlim_max, 1 << 20)
        if l.rlim_cur < wanted {
            var raised = l
            raised.rlim_cur = wanted
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
        }
        return limit
    }

    /// Nil while a subscription may open, else why not (for a 503).
    static func refusalOfASubscription() -> String? {
        let limit = limit
        guard limit > 0, limit != Int.max else { return nil }
        let open = open
        guard open >= limit - reserve(for: limit) else { return nil }
        return "the server has \(open) of its \(limit) file descriptors open: one more subscription would leave too few for appends "
            + "and for the server itself; try again later, or raise the limit (ulimit -n, systemd LimitNOFILE=)"
    }
}
