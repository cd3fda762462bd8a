/// Adds without trapping: a log written around the guards may hold sums
/// no guard let through (as ChronikCommerce's stream states do).
@inline(__always)
func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
    let (r, o) = a.addingReportingOverflow(b)
    return o ? (b > 0 ? .max : .min) : r
}

/// Subtracts without trapping (see `saturatingAdd`).
@inline(__always)
func saturatingSubtract(_ a: Int64, _ b: Int64) -> Int64 {
    let (r, o) = a.subtractingReportingOverflow(b)
    return o ? (b > 0 ? .min : .max) : r
}

/// `value` rounded to `places` decimals, halves away from zero.
func rounded(_ value: Double, places: Int) -> Double {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    return (value * scale).rounded() / scale
}
