import Testing
import ChronikCommerce

// Issue 10.4: money as people read it, with each currency's ISO 4217
// decimals; the one formatter of the CLI's text and the fraud reasons.

@Suite struct MoneyTests {
    @Test func decimalsFollowISO4217() {
        // Proves two decimals for most currencies, none for JPY/KRW/ISK, three for KWD/BHD, four for CLF.
        #expect(Money.text(90180, "PLN") == "PLN 901.80")
        #expect(Money.text(2799, "EUR") == "EUR 27.99")
        #expect(Money.text(123_456, "JPY") == "JPY 123,456")
        #expect(Money.text(5_000, "KRW") == "KRW 5,000")
        #expect(Money.text(1_234, "KWD") == "KWD 1.234")
        #expect(Money.text(10_000, "CLF") == "CLF 1.0000")
        #expect(Money.decimals(of: "ISK") == 0 && Money.decimals(of: "BHD") == 3 && Money.decimals(of: "SEK") == 2)
    }

    @Test func signsSmallAmountsAndThousands() {
        // Proves leading zeros of the fraction, negative amounts, zero, grouping and the extremes of Int64.
        #expect(Money.text(5, "EUR") == "EUR 0.05")
        #expect(Money.text(-5, "EUR") == "EUR -0.05")
        #expect(Money.text(0, "EUR") == "EUR 0.00")
        #expect(Money.text(123_456_789, "EUR") == "EUR 1,234,567.89")
        #expect(Money.text(-100_000, "SEK") == "SEK -1,000.00")
        #expect(Money.text(.min, "EUR") == "EUR -92,233,720,368,547,758.08")
        #expect(Money.grouped(999) == "999" && Money.grouped(1_000) == "1,000" && Money.grouped(-1_234_567) == "-1,234,567")
    }
}
