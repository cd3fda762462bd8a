// Saturating sums are ChronikCommerce's (`saturatingAdd`,
// `saturatingSubtract`): one definition for the guards and the models.

/// `value` rounded to `places` decimals, halves away from zero.
func rounded(_ value: Double, places: Int) -> Double {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    return (value * scale).rounded() / scale
}
