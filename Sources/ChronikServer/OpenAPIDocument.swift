// Generated from docs/openapi.json by docs/openapi.embed.sh: edit the
// document, then run the script (OpenAPITests checks the two are the same).

/// The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`.
public let openAPIDocument = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Chronik HTTP API",
    "version": "1.0.0",
    "description": "`chronik serve`: one append-only log for every service of a shop. See docs/SERVER.md for the decisions behind each route. Every error is `Error` JSON with a stable code. Without `--tokens` the server listens on loopback only and every caller has every scope."
  },
  "servers": [
    {
      "url": "http://127.0.0.1:7070"
    }
  ],
  "security": [
    {
      "bearer": []
    }
  ],
  "paths": {
    "/streams/{stream}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/stream"
        }
      ],
      "post": {
        "operationId": "appendToStream",
        "summary": "Append events to a stream, as one atomic batch",
        "description": "EVENTS.md's types go through their guards, as with `chronik append`; a type with personal data belongs to `POST /commands`.",
        "security": [
          {
            "bearer": [
              "append"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "If-Match",
            "in": "header",
            "required": false,
            "description": "The expected version: a version (quotes allowed), `*` (the stream exists), `any`, `noStream`. Must agree with the body's.",
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "required": true,
          "description": "A JSON array of events, or an object with `events` and `expectedVersion`. At most 1000 events, 16 MiB; each event at most the server's --max-event-bytes encoded (4 MiB by default: 413 eventTooLarge).",
          "content": {
            "application/json": {
              "schema": {
                "oneOf": [
                  {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/NewEvent"
                    },
                    "minItems": 1,
                    "maxItems": 1000
                  },
                  {
                    "type": "object",
                    "required": [
                      "events"
                    ],
                    "additionalProperties": false,
                    "properties": {
                      "events": {
                        "type": "array",
                        "items": {
                          "$ref": "#/components/schemas/NewEvent"
                        },
                        "minItems": 1,
                        "maxItems": 1000
                      },
                      "expectedVersion": {
                        "$ref": "#/components/schemas/ExpectedVersion"
                      }
                    }
                  }
                ]
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "An idempotent retry: every id already in the log with the same content; the original positions.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/AppendResult"
                }
              }
            }
          },
          "201": {
            "description": "Appended and durable: positions and the stream's new version.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/AppendResult"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "409": {
            "$ref": "#/components/responses/E409"
          },
          "413": {
            "$ref": "#/components/responses/E413"
          },
          "415": {
            "$ref": "#/components/responses/E415"
          },
          "422": {
            "$ref": "#/components/responses/E422"
          },
          "500": {
            "$ref": "#/components/responses/E500"
          },
          "503": {
            "$ref": "#/components/responses/E503w"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      },
      "get": {
        "operationId": "readStream",
        "summary": "Read a stream's events by version",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "from",
            "in": "query",
            "required": false,
            "description": "The first version to read.",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          },
          {
            "$ref": "#/components/parameters/limit"
          },
          {
            "name": "direction",
            "in": "query",
            "required": false,
            "description": "forward (default) or backward.",
            "schema": {
              "type": "string",
              "enum": [
                "forward",
                "backward"
              ]
            }
          }
        ],
        "responses": {
          "200": {
            "description": "A page of the stream.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/StreamPage"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "404": {
            "$ref": "#/components/responses/E404"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/all": {
      "get": {
        "operationId": "readAll",
        "summary": "Read the whole log by position",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "from",
            "in": "query",
            "required": false,
            "description": "The first position (default 0).",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          },
          {
            "$ref": "#/components/parameters/limit"
          }
        ],
        "responses": {
          "200": {
            "description": "A page of the log; `next` is where to read on.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/AllPage"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/events/{position}": {
      "get": {
        "operationId": "readEvent",
        "summary": "One event by its position",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "position",
            "in": "path",
            "required": true,
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The event.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Event"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "404": {
            "$ref": "#/components/responses/E404"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/subscribe": {
      "get": {
        "operationId": "subscribe",
        "summary": "Live events as Server-Sent Events",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "from",
            "in": "query",
            "required": false,
            "description": "A position, or `end` (live events only); default 0.",
            "schema": {
              "oneOf": [
                {
                  "type": "integer",
                  "minimum": 0
                },
                {
                  "const": "end"
                }
              ]
            }
          },
          {
            "name": "stream",
            "in": "query",
            "required": false,
            "description": "Only this stream's events.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "type",
            "in": "query",
            "required": false,
            "description": "Only events of this type.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "Last-Event-ID",
            "in": "header",
            "required": false,
            "description": "Resume right after this position (what EventSource sends on reconnect); wins over `from`, which is still checked (a bad `from` is 400).",
            "schema": {
              "type": "integer",
              "minimum": 0
            }
          }
        ],
        "responses": {
          "200": {
            "description": "An endless `text/event-stream`: each event is `id: POSITION` and `data:` the JSON of `GET /events/{position}` on one line; `: heartbeat N` comments when idle; `retry: 1000`. Headers `Cache-Control: no-cache, no-transform` (no proxy may compress it), `X-Accel-Buffering: no`.",
            "content": {
              "text/event-stream": {
                "schema": {
                  "type": "string"
                },
                "x-item-schema": {
                  "$ref": "#/components/schemas/Event"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/commands": {
      "post": {
        "operationId": "command",
        "summary": "Commerce events through the guards of EVENTS.md; personal data sealed",
        "security": [
          {
            "bearer": [
              "append"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "If-Match",
            "in": "header",
            "required": false,
            "description": "The batch's expected version: a version (quotes allowed), `*` (the stream exists), `any`, `noStream`. Must agree with the first event's expectedVersion when it gives one.",
            "schema": {
              "type": "string"
            }
          }
        ],
        "requestBody": {
          "required": true,
          "description": "One commerce event of EVENTS.md (the envelope of `chronik import`) or an array of events of one stream.",
          "content": {
            "application/json": {
              "schema": {
                "oneOf": [
                  {
                    "$ref": "#/components/schemas/NewEvent"
                  },
                  {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/NewEvent"
                    },
                    "minItems": 1,
                    "maxItems": 1000
                  }
                ]
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "An idempotent retry.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/AppendResult"
                }
              }
            }
          },
          "201": {
            "description": "Appended and durable.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/AppendResult"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "409": {
            "$ref": "#/components/responses/E409"
          },
          "413": {
            "$ref": "#/components/responses/E413"
          },
          "415": {
            "$ref": "#/components/responses/E415"
          },
          "422": {
            "$ref": "#/components/responses/E422"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "500": {
            "$ref": "#/components/responses/E500"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/commands/ship": {
      "post": {
        "operationId": "ship",
        "summary": "EVENTS.md's command that ships: an OrderShipped and one StockShipped per line",
        "security": [
          {
            "bearer": [
              "append"
            ]
          },
          {}
        ],
        "parameters": [],
        "requestBody": {
          "required": true,
          "description": "One OrderShipped in the envelope of `POST /commands` (type, data, optional id, time, meta).",
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/NewEvent"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "Every part was in the log already: a retry.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ShipResult"
                }
              }
            }
          },
          "201": {
            "description": "Appended and durable.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/ShipResult"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "409": {
            "$ref": "#/components/responses/E409"
          },
          "413": {
            "$ref": "#/components/responses/E413"
          },
          "415": {
            "$ref": "#/components/responses/E415"
          },
          "422": {
            "$ref": "#/components/responses/E422"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "500": {
            "$ref": "#/components/responses/E500"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        },
        "description": "Appends the OrderShipped to the order's stream, then for each line a StockShipped (sku, the shipment's warehouse, qty, the order) to stock-{sku}, so the order's reserved units leave stock. Every line is checked against what the order holds reserved in that warehouse before anything is written (422 overShipment, field data.lines[i].qty). The StockShipped ids are derived from the command's id: a retry with the same id completes what is missing and repeats what was written as idempotent retries. No expected version (400 invalidExpectedVersion)."
      }
    },
    "/models/{name}": {
      "get": {
        "operationId": "model",
        "summary": "A live read model, as `chronik query --json`",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "name",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "enum": [
                "orders",
                "customers",
                "inventory",
                "catalog",
                "fraud",
                "finance",
                "sales",
                "search",
                "replenishment",
                "also-bought",
                "suppliers",
                "purchase-orders",
                "settings",
                "campaigns",
                "reconciliation"
              ]
            },
            "description": "`also-bought` and `recommendations` have only the single-item form (400 `missingParameter`). suppliers, purchase-orders, settings, campaigns and reconciliation are EVENTS.md v1.2's, as `chronik query` answers them."
          },
          {
            "$ref": "#/components/parameters/waitFor"
          },
          {
            "$ref": "#/components/parameters/timeoutMs"
          },
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "At most this many items (every list model but reconciliation, which takes no limit: 400 invalidParameter).",
            "schema": {
              "type": "integer",
              "minimum": 1
            }
          },
          {
            "name": "customer",
            "in": "query",
            "required": false,
            "description": "orders: of this customer",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "status",
            "in": "query",
            "required": false,
            "description": "orders: in this financialStatus or fulfillmentStatus; reconciliation: payments with this status (unknown, duplicate, mismatch, matched, unsettled) or `overdue` (another is 400 invalidParameter)",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "sku",
            "in": "query",
            "required": false,
            "description": "inventory: this SKU",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "warehouse",
            "in": "query",
            "required": false,
            "description": "inventory: this warehouse",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "low",
            "in": "query",
            "required": false,
            "description": "inventory: `true` for low stock only",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "category",
            "in": "query",
            "required": false,
            "description": "catalog: this category",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "day",
            "in": "query",
            "required": false,
            "description": "finance, sales: YYYY-MM-DD",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "currency",
            "in": "query",
            "required": false,
            "description": "customers: ranked in this currency (any case)",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "zeroResults",
            "in": "query",
            "required": false,
            "description": "search: `true` for zero-result queries only",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "at",
            "in": "query",
            "required": false,
            "description": "settings: the values as of this RFC 3339 time",
            "schema": {
              "type": "string",
              "format": "date-time"
            }
          },
          {
            "name": "key",
            "in": "query",
            "required": false,
            "description": "settings: only this key",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "open",
            "in": "query",
            "required": false,
            "description": "purchase-orders: `true` for open (not received) orders only",
            "schema": {
              "type": "string",
              "enum": [
                "true",
                "false"
              ]
            }
          },
          {
            "name": "supplier",
            "in": "query",
            "required": false,
            "description": "purchase-orders: only this supplier's",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "payout",
            "in": "query",
            "required": false,
            "description": "reconciliation: only this payout (its payoutId) and the payments with a line in it; an unknown payout is 404",
            "schema": {
              "type": "string"
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The model's items.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/ModelItem"
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "404": {
            "$ref": "#/components/responses/E404"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/models/{name}/{id}": {
      "get": {
        "operationId": "modelItem",
        "summary": "One item of a model",
        "description": "Customers in clear (the profile) need the `pii` scope.",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "name",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "enum": [
                "orders",
                "customers",
                "catalog",
                "fraud",
                "also-bought",
                "recommendations",
                "reconciliation"
              ]
            }
          },
          {
            "name": "id",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string"
            }
          },
          {
            "$ref": "#/components/parameters/waitFor"
          },
          {
            "$ref": "#/components/parameters/timeoutMs"
          },
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "also-bought, recommendations: at most this many.",
            "schema": {
              "type": "integer",
              "minimum": 1
            }
          }
        ],
        "responses": {
          "200": {
            "description": "The item (an array for also-bought and recommendations; for reconciliation the payment's record).",
            "content": {
              "application/json": {
                "schema": {
                  "oneOf": [
                    {
                      "anyOf": [
                        {
                          "$ref": "#/components/schemas/Order"
                        },
                        {
                          "$ref": "#/components/schemas/Customer"
                        },
                        {
                          "$ref": "#/components/schemas/Product"
                        },
                        {
                          "$ref": "#/components/schemas/FraudScore"
                        },
                        {
                          "$ref": "#/components/schemas/ReconciliationRecord"
                        }
                      ]
                    },
                    {
                      "type": "array",
                      "items": {
                        "anyOf": [
                          {
                            "$ref": "#/components/schemas/AlsoBought"
                          },
                          {
                            "$ref": "#/components/schemas/Recommendation"
                          }
                        ]
                      }
                    }
                  ]
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "404": {
            "$ref": "#/components/responses/E404"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/verify": {
      "get": {
        "operationId": "verify",
        "summary": "Verify the whole log in the background",
        "security": [
          {
            "bearer": [
              "audit"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "restart",
            "in": "query",
            "required": false,
            "description": "`true`: start a new verification after a finished one.",
            "schema": {
              "type": "string",
              "enum": [
                "true",
                "false"
              ]
            }
          }
        ],
        "responses": {
          "200": {
            "description": "Done: the report.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/VerifyState"
                }
              }
            }
          },
          "202": {
            "description": "Running (or idle): poll again.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/VerifyState"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "501": {
            "$ref": "#/components/responses/E501"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/digest": {
      "post": {
        "operationId": "digest",
        "summary": "A signed digest of the log's head, as `chronik digest --json`",
        "security": [
          {
            "bearer": [
              "audit"
            ]
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "The signed digest.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "required": [
                    "signature"
                  ]
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "409": {
            "$ref": "#/components/responses/E409"
          },
          "501": {
            "$ref": "#/components/responses/E501"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/export": {
      "get": {
        "operationId": "export",
        "summary": "The log as JSON Lines with chain hashes, as `chronik export --audit`",
        "security": [
          {
            "bearer": [
              "audit"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "name": "stream",
            "in": "query",
            "required": false,
            "description": "Only this stream.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "type",
            "in": "query",
            "required": false,
            "description": "Only this type. One neither of EVENTS.md nor in the log is 400 invalidParameter.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "from",
            "in": "query",
            "required": false,
            "description": "From this position, or from this time (RFC 3339, compared with each event's time).",
            "schema": {
              "oneOf": [
                {
                  "type": "integer",
                  "minimum": 0
                },
                {
                  "type": "string",
                  "format": "date-time"
                }
              ]
            }
          },
          {
            "name": "to",
            "in": "query",
            "required": false,
            "description": "Up to this position, or up to this time (RFC 3339), inclusive.",
            "schema": {
              "oneOf": [
                {
                  "type": "integer",
                  "minimum": 0
                },
                {
                  "type": "string",
                  "format": "date-time"
                }
              ]
            }
          }
        ],
        "responses": {
          "200": {
            "description": "JSON Lines, streamed; personal data in clear with `pii`, else null.",
            "content": {
              "application/x-ndjson": {
                "schema": {
                  "type": "string"
                },
                "x-item-schema": {
                  "type": "object"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "404": {
            "$ref": "#/components/responses/E404"
          },
          "501": {
            "$ref": "#/components/responses/E501"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/customers/{id}/subject-export": {
      "get": {
        "operationId": "subjectExport",
        "summary": "Everything the log holds about a customer",
        "security": [
          {
            "bearer": [
              "pii"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "$ref": "#/components/parameters/customerId"
          }
        ],
        "responses": {
          "200": {
            "description": "The subject-access document of `chronik subject-export`.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "404": {
            "$ref": "#/components/responses/E404"
          },
          "501": {
            "$ref": "#/components/responses/E501"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/customers/{id}/forget": {
      "post": {
        "operationId": "forget",
        "summary": "Forget a customer: CustomerForgotten appended, the key destroyed",
        "security": [
          {
            "bearer": [
              "pii"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "$ref": "#/components/parameters/customerId"
          }
        ],
        "responses": {
          "200": {
            "description": "Forgotten before; the key destroyed again.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Forgotten"
                }
              }
            }
          },
          "201": {
            "description": "Forgotten now.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Forgotten"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "404": {
            "$ref": "#/components/responses/E404"
          },
          "501": {
            "$ref": "#/components/responses/E501"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/metrics": {
      "get": {
        "operationId": "metrics",
        "summary": "Prometheus metrics",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {
            "bearer": [
              "metrics"
            ]
          }
        ],
        "responses": {
          "200": {
            "description": "The Prometheus text format.",
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/health": {
      "get": {
        "operationId": "health",
        "summary": "The process answers",
        "security": [],
        "responses": {
          "200": {
            "description": "Alive.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/ready": {
      "get": {
        "operationId": "ready",
        "summary": "Ready to serve: the id index loaded, not stopping",
        "security": [],
        "responses": {
          "200": {
            "description": "Ready.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Ready"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/openapi.json": {
      "get": {
        "operationId": "openapi",
        "summary": "This document",
        "security": [],
        "responses": {
          "200": {
            "description": "OpenAPI 3.1.",
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "required": [
                    "openapi",
                    "paths"
                  ]
                }
              }
            }
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/stats": {
      "get": {
        "operationId": "stats",
        "summary": "The log's figures (as `chronik stats --json`) and the live models' position",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "Events, streams, segments, bytes, head position and hash (a shared store: events and positions only).",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Stats"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/stats/orders": {
      "get": {
        "operationId": "orderStats",
        "summary": "Orders counted by fulfillment and by financial status (the dashboard's panel)",
        "security": [
          {
            "bearer": [
              "read"
            ]
          },
          {}
        ],
        "parameters": [
          {
            "$ref": "#/components/parameters/waitFor"
          },
          {
            "$ref": "#/components/parameters/timeoutMs"
          }
        ],
        "responses": {
          "200": {
            "description": "Counts per status.",
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/OrderStats"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/E400"
          },
          "401": {
            "$ref": "#/components/responses/E401"
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "503": {
            "$ref": "#/components/responses/E503"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/": {
      "get": {
        "operationId": "dashboard",
        "summary": "The dashboard page (docs/SERVER.md, \"Dashboard\"); it asks for a token before reading data",
        "security": [],
        "responses": {
          "200": {
            "description": "The file, served by the binary (no data in it).",
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/dashboard.js": {
      "get": {
        "operationId": "dashboardScript",
        "summary": "The dashboard's script",
        "security": [],
        "responses": {
          "200": {
            "description": "The file, served by the binary (no data in it).",
            "content": {
              "text/javascript": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    },
    "/dashboard.css": {
      "get": {
        "operationId": "dashboardStyle",
        "summary": "The dashboard's style sheet",
        "security": [],
        "responses": {
          "200": {
            "description": "The file, served by the binary (no data in it).",
            "content": {
              "text/css": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "403": {
            "$ref": "#/components/responses/E403"
          },
          "405": {
            "$ref": "#/components/responses/E405"
          }
        }
      }
    }
  },
  "components": {
    "schemas": {
      "Error": {
        "type": "object",
        "required": [
          "error"
        ],
        "additionalProperties": false,
        "description": "Every error response: a stable `code`, a readable `message`, and what a client needs to act.",
        "properties": {
          "error": {
            "type": "object",
            "required": [
              "code",
              "message"
            ],
            "properties": {
              "code": {
                "type": "string",
                "description": "Stable, camelCase: `badRequest`, `invalidJSON`, `wrongType`, `missingField`, `unknownField`, `invalidBatch`, `invalidEventType`, `invalidStreamName`, `invalidExpectedVersion`, `invalidLimit`, `invalidParameter`, `invalidPosition`, `invalidLastEventID`, `missingParameter`, `cardNumber`, `streamMismatch`, `unauthorized`, `forbidden`, `notFound`, `streamNotFound`, `eventNotFound`, `unknownModel`, `customerNotFound`, `wrongExpectedVersion`, `duplicateEventId`, `appendFailed`, `orderExists`, `concurrencyConflict`, `logDamaged`, `bodyTooLarge`, `tooManyEvents`, `eventTooLarge`, `insufficientStock`, `overRefund`, `overCapture`, `orderNotFound`, `notReady`, `writerPoisoned`, `appendsFailing`, `noModels`, `waitTimeout`, `noSigningKey`, `noKeyStore`, `projectionsStopped`, `notAvailableWithStore`, `methodNotAllowed`, `crossSiteRequest`, `hostNotAllowed`, `proxiedWithoutTokens`, `unsupportedContentEncoding`, `invalidTime`, `invalidEventId`, `invalidMeta`, `invalidQuantity`, `invalidStream`, `invalidId`, `invalidCurrency`, `invalidCountry`, `invalidDelta`, `invalidAmount`, `emptyOrder`, `invalidEnumValue`, `invalidData`, `unsupportedSchemaVersion`, `missingUpcaster`, `overRelease`, `overShipment`, `captureWithoutAuthorization`, `refundWithoutCapture`, `duplicateGatewayRef`, `orderCancelled`, `orderAlreadyShipped`, `customerForgotten`, `erasureIncomplete`, `noProtector`, `lineTooLong`, `tooManyOpenFiles`, `io`, `closed`, `internal`."
              },
              "message": {
                "type": "string",
                "minLength": 1
              },
              "field": {
                "type": "string",
                "description": "The field (or parameter, or header) at fault, e.g. `data.qty`."
              },
              "index": {
                "type": "integer",
                "minimum": 0,
                "description": "The 0-based index of the event in the request."
              },
              "stream": {
                "type": "string"
              },
              "expectedVersion": {
                "description": "The expected version the request gave (409 wrongExpectedVersion).",
                "$ref": "#/components/schemas/ExpectedVersion"
              },
              "currentVersion": {
                "type": [
                  "integer",
                  "null"
                ],
                "minimum": 0,
                "description": "The stream's version now; null: no such stream (409 wrongExpectedVersion)."
              },
              "instead": {
                "type": "string",
                "description": "What does it instead (501 notAvailableWithStore), e.g. `chronik verify --store`."
              }
            }
          }
        }
      },
      "Event": {
        "type": "object",
        "description": "An event as `chronik read --json` prints it.",
        "required": [
          "position",
          "stream",
          "version",
          "id",
          "type",
          "recordedAt",
          "data",
          "meta"
        ],
        "additionalProperties": false,
        "properties": {
          "position": {
            "type": "integer",
            "minimum": 0
          },
          "stream": {
            "type": "string",
            "minLength": 1,
            "maxLength": 256
          },
          "version": {
            "type": "integer",
            "minimum": 0
          },
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "type": {
            "type": "string",
            "minLength": 1
          },
          "time": {
            "type": "string",
            "description": "The event's own time (RFC 3339), when it has one."
          },
          "recordedAt": {
            "type": "string",
            "description": "When the log recorded it (RFC 3339)."
          },
          "data": {
            "description": "The event's data; personal data reads as null without the `pii` scope."
          },
          "meta": {
            "type": "object",
            "additionalProperties": {
              "type": "string"
            }
          }
        }
      },
      "NewEvent": {
        "type": "object",
        "description": "One event in the line format of `chronik append` (EVENTS.md envelope).",
        "required": [
          "type",
          "data"
        ],
        "properties": {
          "type": {
            "type": "string",
            "minLength": 1
          },
          "data": {},
          "id": {
            "type": "string",
            "format": "uuid",
            "description": "Given: an idempotent retry returns the original positions."
          },
          "stream": {
            "type": "string",
            "description": "Optional; must be the path's stream."
          },
          "time": {
            "type": "string"
          },
          "meta": {
            "type": "object",
            "additionalProperties": {
              "type": "string"
            }
          },
          "expectedVersion": {
            "$ref": "#/components/schemas/ExpectedVersion"
          }
        }
      },
      "ExpectedVersion": {
        "oneOf": [
          {
            "type": "integer",
            "minimum": 0
          },
          {
            "type": "string",
            "enum": [
              "any",
              "noStream",
              "exists"
            ]
          }
        ]
      },
      "AppendResult": {
        "type": "object",
        "required": [
          "stream",
          "positions",
          "firstPosition",
          "lastPosition",
          "version",
          "duplicate"
        ],
        "additionalProperties": false,
        "properties": {
          "stream": {
            "type": "string"
          },
          "positions": {
            "type": "array",
            "items": {
              "type": "integer",
              "minimum": 0
            },
            "minItems": 1
          },
          "firstPosition": {
            "type": "integer",
            "minimum": 0
          },
          "lastPosition": {
            "type": "integer",
            "minimum": 0
          },
          "version": {
            "type": "integer",
            "minimum": 0
          },
          "duplicate": {
            "type": "boolean",
            "description": "true: an idempotent retry (status 200), the original positions."
          }
        }
      },
      "StreamPage": {
        "type": "object",
        "required": [
          "stream",
          "events",
          "next"
        ],
        "additionalProperties": false,
        "properties": {
          "stream": {
            "type": "string"
          },
          "events": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Event"
            }
          },
          "next": {
            "type": [
              "integer",
              "null"
            ],
            "minimum": 0,
            "description": "The `from` of the next page; null: no more events now."
          }
        }
      },
      "AllPage": {
        "type": "object",
        "required": [
          "events",
          "next",
          "head"
        ],
        "additionalProperties": false,
        "properties": {
          "events": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/Event"
            }
          },
          "next": {
            "type": "integer",
            "minimum": 0
          },
          "head": {
            "type": "integer",
            "minimum": 0
          }
        }
      },
      "Product": {
        "type": "object",
        "description": "catalog: a product.",
        "required": [
          "productId",
          "title",
          "category",
          "brand",
          "discontinued",
          "available",
          "variants"
        ],
        "properties": {
          "productId": {
            "type": "string"
          },
          "title": {},
          "category": {},
          "brand": {},
          "discontinued": {
            "type": "boolean"
          },
          "available": {},
          "variants": {
            "type": "array"
          }
        }
      },
      "Order": {
        "type": "object",
        "description": "orders: an order (the single item adds support contacts).",
        "required": [
          "orderId",
          "customerId",
          "placedAt",
          "currency",
          "lines",
          "discount",
          "shippingFee",
          "total",
          "captured",
          "refunded",
          "financialStatus",
          "fulfillmentStatus",
          "shipped",
          "returned"
        ],
        "properties": {
          "orderId": {
            "type": "string"
          },
          "customerId": {
            "type": "string"
          },
          "placedAt": {},
          "currency": {
            "type": "string"
          },
          "lines": {
            "type": "array",
            "items": {
              "type": "object",
              "required": [
                "sku",
                "qty",
                "unitPrice"
              ]
            }
          },
          "discount": {},
          "shippingFee": {},
          "total": {
            "type": "integer"
          },
          "captured": {},
          "refunded": {},
          "financialStatus": {
            "type": "string"
          },
          "fulfillmentStatus": {
            "type": "string"
          },
          "shipped": {},
          "returned": {},
          "support": {
            "type": "array",
            "description": "GET /models/orders/{id} only: the support interactions that name the order.",
            "items": {
              "type": "object"
            }
          }
        }
      },
      "Customer": {
        "type": "object",
        "description": "customers: a customer (with `pii`, the single item adds the profile).",
        "required": [
          "customerId",
          "registered",
          "orders",
          "lifetimeValue",
          "firstOrderAt",
          "lastOrderAt",
          "orderIds",
          "interactions",
          "marketingConsent",
          "forgotten",
          "rfm",
          "segment"
        ],
        "properties": {
          "customerId": {
            "type": "string"
          },
          "registered": {},
          "orders": {
            "type": "integer"
          },
          "lifetimeValue": {},
          "firstOrderAt": {},
          "lastOrderAt": {},
          "orderIds": {
            "type": "array",
            "items": {
              "type": "string"
            }
          },
          "interactions": {},
          "marketingConsent": {},
          "forgotten": {
            "type": "boolean"
          },
          "rfm": {},
          "segment": {},
          "interactionsByChannel": {
            "type": "object",
            "description": "GET /models/customers/{id} only: support interactions per channel.",
            "additionalProperties": {
              "type": "integer"
            }
          },
          "name": {
            "type": [
              "string",
              "null"
            ],
            "description": "GET /models/customers/{id} with the `pii` scope only: the profile's latest value (null when erased)."
          },
          "email": {
            "type": [
              "string",
              "null"
            ],
            "description": "GET /models/customers/{id} with the `pii` scope only: the profile's latest value (null when erased)."
          },
          "phone": {
            "type": [
              "string",
              "null"
            ],
            "description": "GET /models/customers/{id} with the `pii` scope only: the profile's latest value (null when erased)."
          }
        }
      },
      "StockLevel": {
        "type": "object",
        "description": "inventory: a SKU in a warehouse.",
        "required": [
          "sku",
          "warehouseId",
          "onHand",
          "reserved",
          "available",
          "reorderPoint",
          "reorderQty",
          "low"
        ],
        "properties": {
          "sku": {
            "type": "string"
          },
          "warehouseId": {
            "type": "string"
          },
          "onHand": {
            "type": "integer"
          },
          "reserved": {
            "type": "integer"
          },
          "available": {
            "type": "integer"
          },
          "reorderPoint": {},
          "reorderQty": {},
          "low": {
            "type": "boolean"
          }
        }
      },
      "Replenishment": {
        "type": "object",
        "description": "replenishment: a suggested order.",
        "required": [
          "sku",
          "warehouseId",
          "available",
          "reorderPoint",
          "reorderQty"
        ],
        "properties": {
          "sku": {
            "type": "string"
          },
          "warehouseId": {},
          "available": {
            "type": "integer"
          },
          "reorderPoint": {},
          "reorderQty": {}
        }
      },
      "SalesDay": {
        "type": "object",
        "description": "sales: a day.",
        "required": [
          "day",
          "revenue",
          "units"
        ],
        "properties": {
          "day": {
            "type": "string"
          },
          "revenue": {},
          "units": {}
        }
      },
      "FinanceDay": {
        "type": "object",
        "description": "finance: a day and currency.",
        "required": [
          "day",
          "currency",
          "captured",
          "refunded",
          "net"
        ],
        "properties": {
          "day": {
            "type": "string"
          },
          "currency": {
            "type": "string"
          },
          "captured": {},
          "refunded": {},
          "net": {
            "type": "integer"
          }
        }
      },
      "SearchQuery": {
        "type": "object",
        "description": "search: a query.",
        "required": [
          "query",
          "count",
          "resultCount",
          "zeroResults"
        ],
        "properties": {
          "query": {
            "type": "string"
          },
          "count": {
            "type": "integer"
          },
          "resultCount": {},
          "zeroResults": {}
        }
      },
      "AlsoBought": {
        "type": "object",
        "description": "also-bought: a product bought with the given one.",
        "required": [
          "productId",
          "count"
        ],
        "properties": {
          "productId": {
            "type": "string"
          },
          "count": {
            "type": "integer"
          }
        }
      },
      "FraudScore": {
        "type": "object",
        "description": "fraud: an order's score.",
        "required": [
          "orderId",
          "customerId",
          "score",
          "reasons"
        ],
        "properties": {
          "orderId": {
            "type": "string"
          },
          "customerId": {},
          "score": {},
          "reasons": {
            "type": "array"
          }
        }
      },
      "ModelItem": {
        "description": "One object as `chronik query --json` prints it for the model named in the path (docs/PROJECTIONS.md).",
        "anyOf": [
          {
            "$ref": "#/components/schemas/Order"
          },
          {
            "$ref": "#/components/schemas/Customer"
          },
          {
            "$ref": "#/components/schemas/StockLevel"
          },
          {
            "$ref": "#/components/schemas/Product"
          },
          {
            "$ref": "#/components/schemas/FraudScore"
          },
          {
            "$ref": "#/components/schemas/FinanceDay"
          },
          {
            "$ref": "#/components/schemas/SalesDay"
          },
          {
            "$ref": "#/components/schemas/SearchQuery"
          },
          {
            "$ref": "#/components/schemas/Replenishment"
          },
          {
            "$ref": "#/components/schemas/Supplier"
          },
          {
            "$ref": "#/components/schemas/PurchaseOrder"
          },
          {
            "$ref": "#/components/schemas/Setting"
          },
          {
            "$ref": "#/components/schemas/Campaign"
          },
          {
            "$ref": "#/components/schemas/Recommendation"
          },
          {
            "$ref": "#/components/schemas/ReconciliationRecord"
          }
        ]
      },
      "VerifyState": {
        "type": "object",
        "required": [
          "state"
        ],
        "properties": {
          "state": {
            "type": "string",
            "enum": [
              "idle",
              "running",
              "done",
              "failed"
            ]
          },
          "head": {
            "type": "integer",
            "minimum": 0
          },
          "seconds": {
            "type": "number"
          },
          "ok": {
            "type": "boolean"
          },
          "events": {
            "type": "integer",
            "minimum": 0
          },
          "batches": {
            "type": "integer",
            "minimum": 0
          },
          "segments": {
            "type": "integer",
            "minimum": 0
          },
          "bytes": {
            "type": "integer",
            "minimum": 0
          },
          "headPosition": {
            "type": "integer",
            "minimum": 0
          },
          "headHash": {
            "type": "string"
          },
          "message": {
            "type": "string"
          },
          "finishedAt": {
            "type": "string",
            "format": "date-time",
            "description": "When the verification ended (done or failed)."
          },
          "eventsSince": {
            "type": "integer",
            "minimum": 0,
            "description": "Events appended after what the verification read: a result is of the log as it was then; ?restart=true checks it again."
          },
          "failure": {
            "type": "object",
            "required": [
              "code",
              "file",
              "offset",
              "reason"
            ],
            "properties": {
              "code": {
                "type": "string"
              },
              "file": {
                "type": "string"
              },
              "offset": {
                "type": "integer",
                "minimum": 0
              },
              "reason": {
                "type": "string"
              }
            }
          },
          "warnings": {
            "type": "array",
            "items": {
              "type": "string"
            }
          }
        }
      },
      "Forgotten": {
        "type": "object",
        "required": [
          "customerId",
          "alreadyForgotten",
          "keyDestroyed"
        ],
        "additionalProperties": false,
        "properties": {
          "customerId": {
            "type": "string"
          },
          "alreadyForgotten": {
            "type": "boolean"
          },
          "position": {
            "type": "integer",
            "minimum": 0
          },
          "keyDestroyed": {
            "type": "boolean"
          }
        }
      },
      "Ready": {
        "type": "object",
        "required": [
          "status",
          "head"
        ],
        "additionalProperties": false,
        "properties": {
          "status": {
            "const": "ready"
          },
          "head": {
            "type": "integer",
            "minimum": 0
          },
          "modelsPosition": {
            "type": "integer",
            "minimum": 0
          }
        }
      },
      "Health": {
        "type": "object",
        "required": [
          "status"
        ],
        "additionalProperties": false,
        "properties": {
          "status": {
            "const": "ok"
          }
        }
      },
      "Stats": {
        "type": "object",
        "description": "`chronik stats --json` of the open log, and `modelsPosition`. A server of a shared store (`chronik serve --store`) has no log directory: it answers `events`, `headPosition` and `modelsPosition` only.",
        "required": [
          "events",
          "headPosition",
          "modelsPosition"
        ],
        "properties": {
          "log": {
            "type": "string"
          },
          "events": {
            "type": "integer",
            "minimum": 0
          },
          "streams": {
            "type": "integer",
            "minimum": 0
          },
          "segments": {
            "type": "integer",
            "minimum": 0
          },
          "bytesOnDisk": {
            "type": "integer",
            "minimum": 0
          },
          "headPosition": {
            "type": "integer",
            "minimum": 0
          },
          "compression": {
            "type": "string"
          },
          "headHash": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$"
          },
          "modelsPosition": {
            "type": [
              "integer",
              "null"
            ],
            "minimum": 0,
            "description": "The next position the live models apply; null on a server without models."
          }
        },
        "additionalProperties": false
      },
      "OrderStats": {
        "type": "object",
        "required": [
          "orders",
          "fulfillment",
          "financial",
          "modelsPosition"
        ],
        "properties": {
          "orders": {
            "type": "integer",
            "minimum": 0
          },
          "fulfillment": {
            "type": "object",
            "additionalProperties": {
              "type": "integer",
              "minimum": 0
            }
          },
          "financial": {
            "type": "object",
            "additionalProperties": {
              "type": "integer",
              "minimum": 0
            }
          },
          "modelsPosition": {
            "type": "integer",
            "minimum": 0
          }
        },
        "additionalProperties": false
      },
      "Supplier": {
        "type": "object",
        "description": "suppliers: a supplier (EVENTS.md v1.2).",
        "required": [
          "supplierId",
          "name",
          "leadTimeDays",
          "openOrders",
          "receivedOrders",
          "onTimeRate",
          "averageLeadDays",
          "unitsOnOrder"
        ],
        "properties": {
          "supplierId": {
            "type": "string"
          },
          "name": {},
          "leadTimeDays": {},
          "openOrders": {},
          "receivedOrders": {},
          "onTimeRate": {},
          "averageLeadDays": {},
          "unitsOnOrder": {
            "type": "array"
          }
        }
      },
      "PurchaseOrder": {
        "type": "object",
        "description": "purchase-orders: a purchase order (EVENTS.md v1.2).",
        "required": [
          "purchaseOrderId",
          "supplierId",
          "warehouseId",
          "lines",
          "currency",
          "placedAt",
          "expectedAt",
          "receivedAt",
          "open",
          "late"
        ],
        "properties": {
          "purchaseOrderId": {
            "type": "string"
          },
          "supplierId": {},
          "warehouseId": {},
          "lines": {
            "type": "array"
          },
          "currency": {},
          "placedAt": {},
          "expectedAt": {},
          "receivedAt": {},
          "open": {
            "type": "boolean"
          },
          "late": {
            "type": "boolean"
          }
        }
      },
      "Setting": {
        "type": "object",
        "description": "settings: a setting's value at the time asked (EVENTS.md v1.2).",
        "required": [
          "key",
          "value",
          "actor",
          "changedAt",
          "changes"
        ],
        "properties": {
          "key": {
            "type": "string"
          },
          "value": {},
          "actor": {},
          "changedAt": {},
          "changes": {}
        }
      },
      "Campaign": {
        "type": "object",
        "description": "campaigns: a campaign and what it brought (EVENTS.md v1.2).",
        "required": [
          "campaignId",
          "name",
          "channel",
          "budget",
          "currency",
          "sessions",
          "orders",
          "revenue",
          "conversionRate",
          "roas"
        ],
        "properties": {
          "campaignId": {
            "type": "string"
          },
          "name": {},
          "channel": {},
          "budget": {},
          "currency": {},
          "sessions": {},
          "orders": {},
          "revenue": {
            "type": "object"
          },
          "conversionRate": {},
          "roas": {}
        }
      },
      "Recommendation": {
        "type": "object",
        "description": "recommendations: a product for the customer, by score (EVENTS.md v1.2).",
        "required": [
          "customerId",
          "productId",
          "score",
          "boughtTogether",
          "viewedSessions"
        ],
        "properties": {
          "customerId": {},
          "productId": {
            "type": "string"
          },
          "score": {
            "type": "integer",
            "minimum": 1
          },
          "boughtTogether": {},
          "viewedSessions": {}
        }
      },
      "ReconciliationRecord": {
        "description": "reconciliation: one record of `query reconciliation --json`, named by `record` (EVENTS.md v1.2): a payment, a payout, a day (UTC day of paidOutAt and currency) or the summary.",
        "oneOf": [
          {
            "type": "object",
            "required": [
              "record",
              "paymentId",
              "orderId",
              "gateway",
              "currency",
              "status",
              "overdue",
              "captured",
              "settled",
              "refunded",
              "refundSettled",
              "fees",
              "chargebacks",
              "captures",
              "chargeLines",
              "refundLines",
              "lines",
              "firstCapturedAt",
              "payouts"
            ],
            "properties": {
              "record": {
                "type": "string",
                "enum": [
                  "payment"
                ]
              },
              "paymentId": {
                "type": "string"
              },
              "status": {
                "type": "string",
                "enum": [
                  "unknown",
                  "duplicate",
                  "mismatch",
                  "matched",
                  "unsettled"
                ]
              },
              "overdue": {
                "type": "boolean"
              },
              "captured": {
                "type": "integer"
              },
              "settled": {
                "type": "integer"
              },
              "refunded": {
                "type": "integer"
              },
              "refundSettled": {
                "type": "integer"
              },
              "fees": {
                "type": "integer"
              },
              "chargebacks": {
                "type": "integer"
              },
              "payouts": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              }
            }
          },
          {
            "type": "object",
            "required": [
              "record",
              "gateway",
              "payoutId",
              "paidOutAt",
              "gross",
              "fees",
              "net",
              "lines",
              "currencies"
            ],
            "properties": {
              "record": {
                "type": "string",
                "enum": [
                  "payout"
                ]
              },
              "payoutId": {
                "type": "string"
              },
              "gross": {
                "type": "integer"
              },
              "fees": {
                "type": "integer"
              },
              "net": {
                "type": "integer"
              },
              "lines": {
                "type": "integer",
                "minimum": 1
              },
              "currencies": {
                "type": "object"
              }
            }
          },
          {
            "type": "object",
            "required": [
              "record",
              "day",
              "currency",
              "fees",
              "net",
              "lines"
            ],
            "properties": {
              "record": {
                "type": "string",
                "enum": [
                  "day"
                ]
              },
              "day": {
                "type": "string"
              },
              "currency": {
                "type": "string"
              },
              "fees": {
                "type": "integer"
              },
              "net": {
                "type": "integer"
              },
              "lines": {
                "type": "integer",
                "minimum": 1
              }
            }
          },
          {
            "type": "object",
            "required": [
              "record",
              "counts",
              "overdue",
              "fees",
              "net",
              "payouts",
              "unattributedLines"
            ],
            "properties": {
              "record": {
                "type": "string",
                "enum": [
                  "summary"
                ]
              },
              "counts": {
                "type": "object"
              },
              "overdue": {
                "type": "integer",
                "minimum": 0
              },
              "fees": {
                "type": "object"
              },
              "net": {
                "type": "object"
              },
              "payouts": {
                "type": "integer",
                "minimum": 0
              },
              "unattributedLines": {
                "type": "integer",
                "minimum": 0
              }
            }
          }
        ]
      },
      "ShipResult": {
        "type": "object",
        "required": [
          "stream",
          "positions",
          "version",
          "stock",
          "lastPosition",
          "duplicate"
        ],
        "additionalProperties": false,
        "properties": {
          "stream": {
            "type": "string",
            "description": "The order's stream."
          },
          "positions": {
            "type": "array",
            "items": {
              "type": "integer",
              "minimum": 0
            },
            "minItems": 1,
            "description": "The OrderShipped's position."
          },
          "version": {
            "type": "integer",
            "minimum": 0,
            "description": "The order stream's version after it."
          },
          "stock": {
            "type": "array",
            "description": "One StockShipped per shipment line, in line order.",
            "items": {
              "type": "object",
              "required": [
                "stream",
                "position",
                "version",
                "duplicate"
              ],
              "additionalProperties": false,
              "properties": {
                "stream": {
                  "type": "string"
                },
                "position": {
                  "type": "integer",
                  "minimum": 0
                },
                "version": {
                  "type": "integer",
                  "minimum": 0
                },
                "duplicate": {
                  "type": "boolean"
                }
              }
            }
          },
          "lastPosition": {
            "type": "integer",
            "minimum": 0,
            "description": "The highest position of the command's events: the waitFor for read-your-writes."
          },
          "duplicate": {
            "type": "boolean",
            "description": "true: every part was in the log already (status 200)."
          }
        }
      }
    },
    "responses": {
      "E400": {
        "description": "Bad input: a bad event (`index`, `field`), a bad parameter, a body that is not JSON; nothing was written.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E401": {
        "description": "No or an unknown bearer token (when the server has `--tokens`); `WWW-Authenticate: Bearer`.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E403": {
        "description": "The token lacks the route's scope (`forbidden`); or a browser's request from another origin (`crossSiteRequest`: a foreign `Origin`, `Sec-Fetch-Site: cross-site` or `same-site`); or, without `--tokens`, a `Host` that is not a loopback name (`hostNotAllowed`) or a request a proxy marked as forwarded (`proxiedWithoutTokens`). See docs/SERVER.md, \"Browsers\" and \"Behind a reverse proxy\".",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E404": {
        "description": "No such stream, event, model item, customer or route.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E409": {
        "description": "A conflict with the log's state: `wrongExpectedVersion` (with `currentVersion`), `duplicateEventId`, `appendFailed`, `orderExists`, `concurrencyConflict`, `logDamaged`.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E413": {
        "description": "The body is over the limit: `bodyTooLarge`, `tooManyEvents`, `eventTooLarge`.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E422": {
        "description": "A rule of EVENTS.md refused the event: `insufficientStock`, `overRefund`, `overCapture`, `orderNotFound`, …",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E503": {
        "description": "Not available: `notReady`, `noModels`, `waitTimeout`, `noSigningKey`, `noKeyStore`, `projectionsStopped`, `appendsFailing` (/ready: appends failing, e.g. a full disk); `tooManyOpenFiles` (/subscribe: the server's descriptors are nearly used up).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E501": {
        "description": "Not available on a server of a shared store (`chronik serve --store`): `notAvailableWithStore`. The route needs the log's files (verify, export, digest) or one key store shared by every server (personal data); `error.instead` names what does it.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E415": {
        "description": "A `Content-Encoding` other than `identity` (`unsupportedContentEncoding`): send the body uncompressed.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E500": {
        "description": "The store failed (`io`): with `--store`, PostgreSQL could not be reached or did not answer (a restart, a failover), or a COMMIT did not complete — the batch may or may not be stored; retrying with the same event ids is safe (idempotent). A local log's failed write is `io` too.",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E503w": {
        "description": "The log takes no append: `writerPoisoned` (a failed fsync; restart the server), `closed` (shutting down).",
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      },
      "E405": {
        "description": "`methodNotAllowed`: the path exists, the method does not; the `Allow` header lists the methods it takes (HEAD is taken wherever GET is).",
        "headers": {
          "Allow": {
            "description": "The methods this path takes.",
            "schema": {
              "type": "string"
            }
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Error"
            }
          }
        }
      }
    },
    "parameters": {
      "stream": {
        "name": "stream",
        "in": "path",
        "required": true,
        "description": "The stream name (1–256 bytes of UTF-8 in Unicode NFC), percent-encoded as any path segment (RFC 3986): `caf%C3%A9` is the stream `café`, `a%2Fb` the stream `a/b`. A bad encoding or a name not in NFC is 400 `invalidStreamName`.",
        "schema": {
          "type": "string",
          "minLength": 1,
          "maxLength": 256
        }
      },
      "limit": {
        "name": "limit",
        "in": "query",
        "required": false,
        "description": "At most this many events (1–1000, default 100).",
        "schema": {
          "type": "integer",
          "minimum": 1,
          "maximum": 1000
        }
      },
      "waitFor": {
        "name": "waitFor",
        "in": "query",
        "required": false,
        "description": "Wait until the live models have applied this position (read-your-writes: pass an append's `lastPosition`).",
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "timeoutMs": {
        "name": "timeoutMs",
        "in": "query",
        "required": false,
        "description": "How long `waitFor` waits at most (default and ceiling 30000).",
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "customerId": {
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The customer id.",
        "schema": {
          "type": "string"
        }
      }
    },
    "securitySchemes": {
      "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A token of `--tokens FILE` (one a line: TOKEN scopes [name]). Scopes: `append` (append events, commands), `read` (read, subscribe, models, metrics), `audit` (verify, digest, export), `pii` (personal data in clear, subject export, forget), `metrics` (`/metrics` only, for a scraper). A missing or unknown token is 401, a missing scope 403. OpenAPI has no scopes for `http` schemes; each operation lists the scope it needs in its security requirement."
      }
    }
  }
}
"""#
