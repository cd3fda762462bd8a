import Testing
@testable import ChronikCommerce

/// A valid OrderPlaced data object with `patch` applied to its JSON text.
func order(_ replace: String = "", with: String = "") -> String {
    let base = #"{"orderId":"o-1","customerId":"c-1","lines":[{"sku":"s-1","qty":2,"unitPrice":500}],"currency":"EUR","discount":100,"shippingAddress":{"line1":"a","city":"b","postalCode":"1","country":"DE"},"channel":"web"}"#
    return replace.isEmpty ? base : base.replacingOccurrences(of: replace, with: with)
}

@Suite struct ValidationTests {
    @Test func baselineOrderIsValid() throws {
        // Proves the fixture the rejections below start from is itself accepted (so each rejection is due to its one change).
        _ = try parse(importLine("OrderPlaced", order()))
    }

    @Test func badEntityIds() {
        // Proves the id rule (charset, 1–128 bytes) on top-level and nested ids, naming the field.
        expectRejected(importLine("OrderPlaced", order(#""orderId":"o-1""#, with: #""orderId":"o 1""#)), .invalidId, field: "data.orderId")
        expectRejected(importLine("OrderPlaced", order(#""orderId":"o-1""#, with: #""orderId":"""#)), .invalidId, field: "data.orderId")
        expectRejected(importLine("OrderPlaced", order(#""sku":"s-1""#, with: #""sku":"s/1""#)), .invalidId, field: "data.lines[0].sku")
        // A control character in a bad id is escaped in the message, which stays one line (stop 33).
        let newline = expectError({ () throws(CommerceError) in
            _ = try parse(importLine("OrderPlaced", order(#""orderId":"o-1""#, with: #""orderId":"o\n1""#)))
        })
        #expect(newline?.message.contains(#"bytes: "o\n1")"#) == true && newline?.message.contains("\n") == false, "\(String(describing: newline))")
        let long = String(repeating: "x", count: 129)
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"\#(long)"}"#), .invalidId, field: "data.productId")
        // 128 bytes and all allowed punctuation are fine.
        #expect((try? parse(importLine("ProductDiscontinued", #"{"productId":"\#(String(repeating: "x", count: 124)):-_."}"#))) != nil)
        expectRejected(importLine("StockReceived", #"{"sku":"k","warehouseId":"w","qty":1,"purchaseOrderId":"ü"}"#), .invalidId, field: "data.purchaseOrderId")
    }

    @Test func badEventId() {
        // Proves the event id must be a canonical UUID.
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, id: "not-a-uuid"), .invalidEventId, field: "id")
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, id: "6F9619FF8B86D011B42D00C04FC964FF"), .invalidEventId, field: "id")
    }

    @Test func streamMismatch() {
        // Proves a given stream must equal the derived one.
        expectRejected(importLine("OrderCancelled", #"{"orderId":"o-1","reason":"x"}"#, extra: #","stream":"order-o-2""#), .streamMismatch, field: "stream")
        expectRejected(importLine("OrderCancelled", #"{"orderId":"o-1","reason":"x"}"#, extra: #","stream":"""#), .invalidStream, field: "stream")
    }

    @Test func currencyAndCountry() {
        // Proves ISO 4217 and ISO 3166-1 alpha-2 checks, including nested addresses and case.
        expectRejected(importLine("OrderPlaced", order(#""EUR""#, with: #""EUX""#)), .invalidCurrency, field: "data.currency")
        expectRejected(importLine("OrderPlaced", order(#""EUR""#, with: #""eur""#)), .invalidCurrency, field: "data.currency")
        expectRejected(importLine("PriceChanged", #"{"sku":"k","price":1,"currency":"EURO"}"#), .invalidCurrency, field: "data.currency")
        expectRejected(importLine("OrderPlaced", order(#""DE""#, with: #""XX""#)), .invalidCountry, field: "data.shippingAddress.country")
        expectRejected(importLine("OrderPlaced", order(#""DE""#, with: #""UK""#)), .invalidCountry, field: "data.shippingAddress.country")
        expectRejected(importLine("AddressChanged", #"{"customerId":"c","address":{"line1":"a","city":"b","postalCode":"1","country":"de"}}"#), .invalidCountry, field: "data.address.country")
        #expect(Validation.countries.count == 249)
        #expect(Validation.isCurrency("JPY") && Validation.isCurrency("CHF") && !Validation.isCurrency("ABC"))
        #expect(Validation.isCountry("GB") && Validation.isCountry("AX") && !Validation.isCountry("EU"))
    }

    @Test func quantitiesDeltasAndCounts() {
        // Proves qty > 0, reorderQty > 0, reorderPoint/leadTimeDays/resultCount ≥ 0 and delta ≠ 0.
        expectRejected(importLine("OrderPlaced", order(#""qty":2"#, with: #""qty":0"#)), .invalidQuantity, field: "data.lines[0].qty")
        expectRejected(importLine("CartItemAdded", #"{"sessionId":"s","sku":"k","qty":-1}"#), .invalidQuantity, field: "data.qty")
        expectRejected(importLine("StockTransferred", #"{"sku":"k","fromWarehouseId":"a","toWarehouseId":"b","qty":0}"#), .invalidQuantity, field: "data.qty")
        expectRejected(importLine("ReorderPointSet", #"{"sku":"k","warehouseId":"w","reorderPoint":5,"reorderQty":0}"#), .invalidQuantity, field: "data.reorderQty")
        expectRejected(importLine("ReorderPointSet", #"{"sku":"k","warehouseId":"w","reorderPoint":-1,"reorderQty":3}"#), .invalidQuantity, field: "data.reorderPoint")
        expectRejected(importLine("SupplierRegistered", #"{"supplierId":"s","name":"n","leadTimeDays":-2}"#), .invalidQuantity, field: "data.leadTimeDays")
        expectRejected(importLine("SearchPerformed", #"{"sessionId":"s","query":"q","resultCount":-1}"#), .invalidQuantity, field: "data.resultCount")
        expectRejected(importLine("StockAdjusted", #"{"sku":"k","warehouseId":"w","delta":0,"reason":"count"}"#), .invalidDelta, field: "data.delta")
        #expect((try? parse(importLine("StockAdjusted", #"{"sku":"k","warehouseId":"w","delta":-7,"reason":"count"}"#))) != nil)
    }

    @Test func money() {
        // Proves money ≥ 0 everywhere, payment/refund amounts > 0, and the order total ≥ 0 with at least one line.
        expectRejected(importLine("OrderPlaced", order(#""unitPrice":500"#, with: #""unitPrice":-1"#)), .invalidAmount, field: "data.lines[0].unitPrice")
        expectRejected(importLine("OrderPlaced", order(#""discount":100"#, with: #""discount":-100"#)), .invalidAmount, field: "data.discount")
        expectRejected(importLine("OrderPlaced", order(#""discount":100"#, with: #""discount":100,"shippingFee":-5"#)), .invalidAmount, field: "data.shippingFee")
        expectRejected(importLine("OrderPlaced", order(#""discount":100"#, with: #""discount":1001"#)), .invalidAmount, field: "data.discount")
        expectRejected(importLine("OrderPlaced", order(#"[{"sku":"s-1","qty":2,"unitPrice":500}]"#, with: "[]")), .emptyOrder, field: "data.lines")
        expectRejected(importLine("OrderPlaced", order(#""unitPrice":500"#, with: #""unitPrice":9223372036854775807"#)), .invalidAmount, field: "data.lines")
        expectRejected(importLine("VariantAdded", #"{"productId":"p","sku":"k","price":-1,"currency":"EUR"}"#), .invalidAmount, field: "data.price")
        expectRejected(importLine("PurchaseOrderPlaced", #"{"purchaseOrderId":"p","supplierId":"s","warehouseId":"w","lines":[{"sku":"k","qty":1,"unitCost":-3}],"currency":"EUR","expectedAt":"2024-01-01T00:00:00Z"}"#), .invalidAmount, field: "data.lines[0].unitCost")
        expectRejected(importLine("CampaignLaunched", #"{"campaignId":"c","name":"n","channel":"x","budget":-1,"currency":"EUR"}"#), .invalidAmount, field: "data.budget")
        expectRejected(importLine("PaymentCaptured", #"{"orderId":"o","paymentId":"p","amount":0}"#), .invalidAmount, field: "data.amount")
        expectRejected(importLine("PaymentAuthorized", #"{"orderId":"o","paymentId":"p","amount":0,"method":"card","gateway":"g"}"#), .invalidAmount, field: "data.amount")
        expectRejected(importLine("PaymentFailed", #"{"orderId":"o","paymentId":"p","amount":0,"reason":"r"}"#), .invalidAmount, field: "data.amount")
        expectRejected(importLine("RefundIssued", #"{"orderId":"o","refundId":"r","paymentId":"p","amount":0,"reason":"r"}"#), .invalidAmount, field: "data.amount")
        // A total of exactly 0 is fine; a price of 0 is fine.
        #expect((try? parse(importLine("OrderPlaced", order(#""discount":100"#, with: #""discount":1000"#)))) != nil)
        #expect((try? parse(importLine("PriceChanged", #"{"sku":"k","price":0,"currency":"EUR"}"#))) != nil)
    }

    @Test func integersMustBeIntegers() {
        // Proves fractions, exponents, strings and out-of-range numbers are refused where integers belong.
        expectRejected(importLine("CartItemAdded", #"{"sessionId":"s","sku":"k","qty":1.5}"#), .wrongType, field: "data.qty")
        expectRejected(importLine("CartItemAdded", #"{"sessionId":"s","sku":"k","qty":1.0}"#), .wrongType, field: "data.qty")
        expectRejected(importLine("CartItemAdded", #"{"sessionId":"s","sku":"k","qty":1e2}"#), .wrongType, field: "data.qty")
        expectRejected(importLine("CartItemAdded", #"{"sessionId":"s","sku":"k","qty":"2"}"#), .wrongType, field: "data.qty")
        expectRejected(importLine("CartItemAdded", #"{"sessionId":"s","sku":"k","qty":9223372036854775808}"#), .wrongType, field: "data.qty")
    }

    @Test func times() {
        // Proves RFC 3339 for the envelope time and data times; time is required for known types.
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, time: "2024-05-01 10:00"), .invalidTime, field: "time")
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, time: "2024-02-30T10:00:00Z"), .invalidTime, field: "time")
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, time: "2024-05-01T10:00:00.1234567Z"), .invalidTime, field: "time")
        // A finer fraction is refused (times are kept to the microsecond) and the message says so, not "not RFC 3339"
        // (stop 33: .NET, Java and Go write 7 or 9 digits by default).
        for (time, digits) in [("2024-05-01T10:00:00.1234567Z", 7), ("2024-05-01T10:00:00.123456789+02:00", 9)] {
            let e = expectError({ () throws(CommerceError) in _ = try parse(importLine("ProductDiscontinued", #"{"productId":"p"}"#, time: time)) })
            #expect(e?.message.contains("has \(digits) fractional digits: times are kept to the microsecond") == true, "\(String(describing: e))")
        }
        let bad = expectError({ () throws(CommerceError) in _ = try parse(importLine("ProductDiscontinued", #"{"productId":"p"}"#, time: "2024-05-01T10:00:00.1234567")) })
        #expect(bad?.message.contains("is not an RFC 3339 date-time") == true, "no offset: \(String(describing: bad))")
        // A leap second is refused, saying why (stop 38, a migration: 2016-12-31T23:59:60Z was stored and exported
        // as 23:59:59, silently another time); the second before it still parses.
        for time in ["2016-12-31T23:59:60Z", "2017-01-01T00:59:60+01:00"] {
            let e = expectError({ () throws(CommerceError) in _ = try parse(importLine("ProductDiscontinued", #"{"productId":"p"}"#, time: time)) })
            #expect(e?.code == .invalidTime && e?.message.contains("is a leap second (:60)") == true, "\(String(describing: e))")
        }
        #expect(Timestamp(rfc3339: "2016-12-31T23:59:59.999999Z")?.rfc3339 == "2016-12-31T23:59:59.999999Z")
        #expect(Timestamp(rfc3339: "2016-12-31T23:59:61Z") == nil && Timestamp.rfc3339Refusal("2016-12-31T23:59:61Z") == "is not an RFC 3339 date-time")
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, time: nil), .missingField, field: "time")
        // Stop 38 (a newcomer): the messages say the fix — the zone, the case, the minor units.
        let noZone = expectError({ () throws(CommerceError) in _ = try parse(importLine("ProductDiscontinued", #"{"productId":"p"}"#, time: "2024-06-06T10:00:00")) })
        #expect(noZone?.message.contains("has no time zone: add Z (UTC) or an offset") == true, "\(String(describing: noZone))")
        let lower = expectError({ () throws(CommerceError) in _ = try parse(importLine("PriceChanged", #"{"sku":"s","price":1250,"currency":"eur"}"#)) })
        #expect(lower?.code == .invalidCurrency && lower?.message.hasSuffix("codes are upper case (EUR)") == true, "\(String(describing: lower))")
        let decimal = expectError({ () throws(CommerceError) in _ = try parse(importLine("PriceChanged", #"{"sku":"s","price":12.50,"currency":"EUR"}"#)) })
        #expect(decimal?.code == .wrongType && decimal?.message.contains("cents: 12.50 is 1250") == true, "\(String(describing: decimal))")
        expectRejected(importLine("PurchaseOrderPlaced", #"{"purchaseOrderId":"p","supplierId":"s","warehouseId":"w","lines":[{"sku":"k","qty":1,"unitCost":3}],"currency":"EUR","expectedAt":"tomorrow"}"#), .invalidTime, field: "data.expectedAt")
    }

    @Test func aBarcodeInASearchIsNotACardNumber() throws {
        // Proves stop 38's finding (a migration): a search for the EAN-13 barcode 4006381333924 (valid GS1 check digit,
        // and passing Luhn as one barcode in ten does) was refused as a card number, and the whole import with it.
        for query in ["4006381333924", "gtin 10012345678902", "ean 4006381333924 in stock"] {
            _ = try parse(importLine("SearchPerformed", #"{"sessionId":"s","query":"\#(query)","resultCount":0}"#))
        }
        // Card numbers in prose are still refused: a 16-digit card, and 13 digits passing Luhn but not GS1.
        expectRejected(importLine("SearchPerformed", #"{"sessionId":"s","query":"4111111111111111","resultCount":0}"#), .cardNumber, field: "data.query")
        expectRejected(importLine("SearchPerformed", #"{"sessionId":"s","query":"4222222222222","resultCount":0}"#), .cardNumber, field: "data.query")
        // Spaced in groups it is written as a card, not a barcode.
        expectRejected(importLine("SearchPerformed", #"{"sessionId":"s","query":"4006 3813 33924","resultCount":0}"#), .cardNumber, field: "data.query")
        // In a payment event EVENTS.md's rule holds for every string: refused there.
        expectRejected(importLine("RefundIssued", #"{"orderId":"o","refundId":"r","paymentId":"p","amount":1,"reason":"4006381333924"}"#), .cardNumber, field: "data.reason")
    }

    @Test func cardNumbersInPaymentEvents() {
        // Proves a Luhn-valid 13–19 digit string (plain, spaced or dashed) in any string of a payment event, meta included, is refused.
        expectRejected(importLine("PaymentMethodAdded", #"{"customerId":"c","token":"4111111111111111","brand":"visa","last4":"1111"}"#), .cardNumber, field: "data.token")
        expectRejected(importLine("PaymentMethodAdded", #"{"customerId":"c","token":"t","brand":"4111 1111 1111 1111","last4":"1111"}"#), .cardNumber, field: "data.brand")
        expectRejected(importLine("PaymentAuthorized", #"{"orderId":"o","paymentId":"p","amount":1,"method":"card","gateway":"g","cardToken":"4012-8888-8888-1881"}"#), .cardNumber, field: "data.cardToken")
        expectRejected(importLine("PaymentCaptured", #"{"orderId":"o","paymentId":"378282246310005","amount":1}"#), .cardNumber, field: "data.paymentId")
        expectRejected(importLine("PaymentFailed", #"{"orderId":"o","paymentId":"p","amount":1,"reason":"card 4111111111111111 declined"}"#.replacingOccurrences(of: "card 4111111111111111 declined", with: "4111111111111111")), .cardNumber, field: "data.reason")
        expectRejected(importLine("RefundIssued", #"{"orderId":"o","refundId":"r","paymentId":"p","amount":1,"reason":"6011 1111 1111 1117"}"#), .cardNumber, field: "data.reason")
        expectRejected(importLine("PaymentCaptured", #"{"orderId":"o","paymentId":"p","amount":1}"#, extra: #","meta":{"note":"4111-1111-1111-1111"}"#), .cardNumber, field: "meta.note")
    }

    @Test func panLookalikesThatFailLuhnOrAreOutsidePaymentEventsAreAccepted() throws {
        // Proves the PAN rule is exactly Luhn + length + payment types: near misses pass.
        _ = try parse(importLine("PaymentMethodAdded", #"{"customerId":"c","token":"4111111111111112","brand":"visa","last4":"1111"}"#))
        _ = try parse(importLine("PaymentMethodAdded", #"{"customerId":"c","token":"411111111111","brand":"visa","last4":"1111"}"#))  // 12 digits
        _ = try parse(importLine("PaymentMethodAdded", #"{"customerId":"c","token":"41111111111111111111","brand":"visa","last4":"1111"}"#))  // 20 digits
        _ = try parse(importLine("PaymentMethodAdded", #"{"customerId":"c","token":"tok 4111111111111111","brand":"visa","last4":"1111"}"#))  // not only digits
        _ = try parse(importLine("SettingChanged", #"{"key":"k","value":"4111111111111111","actor":"a"}"#))
        #expect(Validation.looksLikeCardNumber("4111 1111-1111 1111"))
        #expect(!Validation.looksLikeCardNumber("4111 1111 1111 1112"))
        #expect(Validation.looksLikeCardNumber("4222222222222"))  // 13 digits
    }

    @Test func meta() {
        // Proves meta must be an object whose values are all strings.
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, extra: #","meta":{"actor":"a","retries":3}"#), .invalidMeta, field: "meta.retries")
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, extra: #","meta":{"actor":null}"#), .invalidMeta, field: "meta.actor")
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, extra: #","meta":"a""#), .invalidMeta, field: "meta")
    }

    @Test func expectedVersionInvalidValues() {
        // Proves anything but an integer ≥ 0, "any", "noStream" or "exists" is refused.
        for bad in [#""latest""#, "-1", "1.5", "true", "null", #""NoStream""#, "18446744073709551616"] {
            expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, extra: #","expectedVersion":\#(bad)"#), .invalidExpectedVersion, field: "expectedVersion")
        }
    }

    @Test func enumerationsAndBooleans() {
        // Proves closed enumerations take only their values and booleans must be JSON booleans.
        expectRejected(importLine("SupportInteraction", #"{"customerId":"c","channel":"fax","summary":"s"}"#), .invalidEnumValue, field: "data.channel")
        expectRejected(importLine("SupportInteraction", #"{"customerId":"c","channel":"Email","summary":"s"}"#), .invalidEnumValue, field: "data.channel")
        expectRejected(importLine("OrderPlaced", order(#""channel":"web""#, with: #""channel":"phone""#)), .invalidEnumValue, field: "data.channel")
        expectRejected(importLine("ConsentChanged", #"{"customerId":"c","marketingConsent":"true"}"#), .wrongType, field: "data.marketingConsent")
        expectRejected(importLine("ConsentChanged", #"{"customerId":"c","marketingConsent":1}"#), .wrongType, field: "data.marketingConsent")
    }

    @Test func missingAndUnknownFields() {
        // Proves a missing required field (top level, nested, envelope) and an unknown field are named.
        expectRejected(importLine("OrderPlaced", order(#""currency":"EUR","#, with: "")), .missingField, field: "data.currency")
        expectRejected(importLine("OrderPlaced", order(#""city":"b","#, with: "")), .missingField, field: "data.shippingAddress.city")
        expectRejected(importLine("OrderPlaced", order(#","channel":"web""#, with: #","channel":"web","coupon":"X""#)), .unknownField, field: "data.coupon")
        expectRejected(importLine("ConsentChanged", #"{"customerId":"c","marketingConsent":null}"#), .missingField, field: "data.marketingConsent")
        expectRejected(#"{"time":"2024-05-01T10:00:00Z","data":{}}"#, .missingField, field: "type")
        expectRejected(#"{"type":"ProductDiscontinued","time":"2024-05-01T10:00:00Z"}"#, .missingField, field: "data")
        expectRejected(importLine("ProductDiscontinued", #"{"productId":"p"}"#, extra: #","tpye":"x""#), .unknownField, field: "tpye")
        expectRejected(importLine("ProductDiscontinued", "[]"), .wrongType, field: "data")
        expectRejected(importLine("ProductCreated", #"{"productId":"p","title":"t","category":"c","images":["a",1]}"#), .wrongType, field: "data.images[1]")
    }

    @Test func malformedLinesNameTheLine() {
        // Proves JSON errors carry the line number and no field.
        expectRejected(#"{"type":"ProductDiscontinued","#, .invalidJSON, field: nil)
        expectRejected("[1,2]", .invalidJSON, field: nil)
    }

    @Test func validateOnTypedEventsNamesRelativeFields() {
        // Proves validate() on a Swift-built event names the field relative to data.
        let o = OrderPlaced(orderId: "o", customerId: "c", lines: [OrderLine(sku: "k", qty: 1, unitPrice: 1), OrderLine(sku: "k", qty: -2, unitPrice: 1)],
                            currency: "EUR", shippingAddress: Address(line1: "a", city: "b", postalCode: "c", country: "DE"))
        let e = expectError { () throws(CommerceError) in try o.validate() }
        #expect(e?.code == .invalidQuantity && e?.field == "lines[1].qty")
    }
}
