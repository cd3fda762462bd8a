import CChronikSupport
import Foundation

/// Where the server's subscriptions run: threads of their own at a lower
/// scheduling priority (a higher nice value) than the rest of the server.
///
/// Why (stop 29): every new event at the head wakes every live
/// subscription; 100 of them make a few hundred jobs at once (the wake,
/// the shared chunk, the write to the socket and its completion). On the
/// shared cooperative pool those jobs queue ahead of an append handler
/// that its fsync has just resumed, so a burst of fan-out lands on the
/// append's latency. Here the fan-out has its own queue, and when both
/// want the 2 cores the kernel runs the appends first: the write path is
/// the shop's money, a subscription can be a millisecond later. A
/// subscriber that falls behind under load is not dropped: it reads from
/// the log, as any slow consumer does.
///
/// Jobs run in the order they come, each on whichever thread is free.
final class FanOutExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `incoming` and `outgoing` are touched only under `ready`.
    /// The nice value of the fan-out threads (the server's threads run at 0;
    /// 19 is the lowest priority). At 10 a thread that wants the CPU gets
    /// about a tenth of what one at 0 gets (the kernel's weights 110 and
    /// 1,024); 5 (a third) measured worse for the appends (stop 29).
    static let nice: Int32 = 10

    /// One per process: subscriptions of every server share them.
    static let shared = FanOutExecutor(threads: max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4)))

    private let ready = NSCondition()
    private var incoming: [UnownedJob] = []
    private var outgoing: [UnownedJob] = []

    /// `threads` threads named `name` and their number.
    init(threads: Int, name: String = "chronik-fanout") {
        for i in 0..<threads {
            let thread = Thread { [self] in
                // A new thread inherits its creator's name; ps, top -H and
                // perf show this one.
                chronik_name_thread("\(name)\(i)")
                _ = chronik_set_thread_nice(Self.nice)
                run()
            }
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        ready.lock()
        incoming.append(job)
        ready.signal()
        ready.unlock()
    }

    private func run() -> Never {
        while true {
            ready.lock()
            while incoming.isEmpty && outgoing.isEmpty { ready.wait() }
            if outgoing.isEmpty {
                // FIFO from two stacks: each job moves once.
                outgoing = incoming.reversed()
                incoming.removeAll(keepingCapacity: true)
            }
            let job = outgoing.removeLast()
            ready.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
