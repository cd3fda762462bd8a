// Saturating sums are ChronikCommerce's (`saturatingAdd`,
// `saturatingSubtract`): one definition for the guards and the models.

/// `numerator / denominator` rounded to `places` decimals, halves away
/// from zero, decided on the exact ratio of the integers (stop 35: through
/// a Double, 3/20000 became 1.4999999999999998e-4 × 10⁴ and rounded to
/// 0.0001, not 0.0002; 1.005 days to 1.0). Nil for a zero denominator.
func roundedRatio(_ numerator: Int64, _ denominator: Int64, places: Int) -> Double? {
    guard denominator != 0 else { return nil }
    var scale: Int64 = 1
    for _ in 0..<places { scale *= 10 }
    let negative = (numerator < 0) != (denominator < 0)
    let n = numerator.magnitude, d = denominator.magnitude
    // q = round(n × scale / d), in 128 bits so no product overflows.
    let (hi, lo) = n.multipliedFullWidth(by: UInt64(scale))
    // A quotient beyond 64 bits (a ratio above ~10¹⁵): no decimals to round.
    guard hi < d else { return (negative ? -1 : 1) * (Double(n) / Double(d)) }
    let (quotient, remainder) = d.dividingFullWidth((hi, lo))
    let q = remainder >= d - remainder ? quotient + 1 : quotient  // 2r ≥ d: half or more, away from zero
    let value = Double(q) / Double(scale)
    return negative ? -value : value
}
