// The seed data of the simulator (data/catalog.json, data/world.json),
// decoded once per process from the copy embedded in SeedData.swift.

import Foundation

/// The products, brands and suppliers the simulated shop starts from.
struct SeedCatalog: Decodable, Sendable {
    struct Brand: Decodable, Sendable {
        var name: String
        var code: String
    }

    struct Supplier: Decodable, Sendable {
        var supplierId: String
        var name: String
        var leadTimeDays: Int
        var brands: [String]
    }

    struct Variant: Decodable, Sendable {
        var sku: String
        var options: [String: String]
        /// EUR cents.
        var price: Int64
    }

    struct Product: Decodable, Sendable {
        var productId: String
        var slug: String
        var title: String
        var brand: String
        var category: String
        var description: String
        var images: [String]
        var attributes: [String: String]
        var keywords: [String]
        var variants: [Variant]
    }

    var shop: String
    var currency: String
    var brands: [Brand]
    var suppliers: [Supplier]
    var products: [Product]
}

/// Countries, warehouses, carriers and the word lists of the simulation.
struct SeedWorld: Decodable, Sendable {
    struct Country: Decodable, Sendable {
        var code: String
        var currency: String
        /// Relative share of visitors.
        var weight: Int
        /// `{d}` a digit, `{L}` an upper-case letter.
        var phone: String
        var postal: String
        var domains: [String]
        var cities: [String]
        var streets: [String]
        /// "Hauptstraße 12" (true) or "12 rue Pasteur" (false).
        var streetFirst: Bool
        var first: [String]
        var last: [String]
    }

    struct Warehouse: Decodable, Sendable {
        var warehouseId: String
        var country: String
    }

    struct Carrier: Decodable, Sendable {
        var name: String
        /// `{d}` a digit, `{L}` a letter, `{A}` a letter or digit.
        var format: String
        var countries: [String]
    }

    struct Support: Decodable, Sendable {
        var channel: String
        var summary: String
    }

    struct Setting: Decodable, Sendable {
        var key: String
        var values: [String]
    }

    var countries: [Country]
    /// Minor units of a currency per 100 EUR cents (EUR: 100).
    var rates: [String: Int64]
    var warehouses: [Warehouse]
    var carriers: [Carrier]
    var devices: [String]
    var gateways: [String: String]
    var paymentFailures: [String]
    var cardBrands: [String]
    var pages: [String]
    var searchExtra: [String]
    var campaignChannels: [String]
    var campaignNames: [String]
    var adjustReasons: [String]
    var cancelReasons: [String]
    var returnReasons: [String]
    var support: [Support]
    var settings: [Setting]
    var actors: [String]
    var fraudIPs: [String]
    var fraudDomains: [String]
}

extension SeedCatalog {
    /// The embedded catalog; a decoding failure is a build defect (the
    /// tests decode it), hence the trap.
    static let embedded: SeedCatalog = {
        do { return try JSONDecoder().decode(SeedCatalog.self, from: Data(SeedData.catalogJSON.utf8)) } catch {
            fatalError("data/catalog.json (embedded) does not decode: \(error)")
        }
    }()
}

extension SeedWorld {
    static let embedded: SeedWorld = {
        do { return try JSONDecoder().decode(SeedWorld.self, from: Data(SeedData.worldJSON.utf8)) } catch {
            fatalError("data/world.json (embedded) does not decode: \(error)")
        }
    }()
}
