//! Every table a store keeps, as both kinds of store have it: the one list `copy` moves and
//! SQLite's schema upgrade rebuilds.

/// How a column is typed in PostgreSQL (SQLite takes any cell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Bool,
    /// A packed row: BYTEA; a text row of an old SQLite store is packed on the way.
    Packed,
    /// A floating-point number (REAL, double precision).
    Real,
}

/// A table as both stores have it: its columns (`shop` first: every shop's rows are copied) and
/// the order its rows are read in.
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub order: &'static str,
}

use Kind::{Bool, Int, Packed, Real, Text};

/// Every table a store keeps, in the order they are copied. `versions` is read in the order
/// first seen (SQLite's rowid, PostgreSQL's `seen`), which the target keeps by inserting in it.
/// SQLite's schema upgrade takes the same list (without `shop`) to rebuild schema 7's tables.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "samples",
        columns: &[
            ("shop", Text),
            ("id", Text),
            ("workflow", Text),
            ("state", Text),
            ("creator", Text),
            ("product", Text),
            ("category", Text),
            ("data", Packed),
            ("chunks", Text),
        ],
        order: "shop, id",
    },
    Table {
        name: "deadlines",
        columns: &[
            ("shop", Text),
            ("sample", Text),
            ("name", Text),
            ("due", Text),
            ("seq", Int),
            ("held", Bool),
        ],
        order: "shop, sample, name",
    },
    Table {
        name: "ledgers",
        columns: &[("shop", Text), ("creator", Text), ("data", Packed)],
        order: "shop, creator",
    },
    Table {
        name: "event_chunks",
        columns: &[
            ("shop", Text),
            ("seq", Int),
            ("run", Int),
            ("ids", Text),
            ("lens", Text),
            ("raw", Packed),
        ],
        order: "shop, seq",
    },
    Table {
        name: "log_chunks",
        columns: &[
            ("shop", Text),
            ("seq", Int),
            ("run", Int),
            ("samples", Text),
            ("lens", Text),
            ("text", Packed),
        ],
        order: "shop, seq",
    },
    Table {
        name: "runs",
        columns: &[("shop", Text), ("id", Int), ("data", Text)],
        order: "shop, id",
    },
    Table {
        name: "versions",
        columns: &[
            ("shop", Text),
            ("kind", Text),
            ("hash", Text),
            ("name", Text),
            ("files", Text),
            ("first_seen", Text),
        ],
        order: "",
    },
    Table {
        name: "meta",
        columns: &[("shop", Text), ("key", Text), ("value", Text)],
        order: "shop, key",
    },
    Table {
        name: "platform",
        columns: &[("shop", Text), ("application", Text)],
        order: "shop, application",
    },
    Table {
        name: "outbox",
        columns: &[
            ("shop", Text),
            ("sample", Text),
            ("event", Text),
            ("decision", Text),
            ("reason", Text),
            ("state", Text),
            ("attempts", Int),
            ("code", Int),
            ("message", Text),
            ("queued_at", Text),
            ("updated_at", Text),
        ],
        order: "shop, sample, event",
    },
    Table {
        name: "unmappable",
        columns: &[
            ("shop", Text),
            ("application", Text),
            ("product", Text),
            ("reason", Text),
            ("seen_at", Text),
        ],
        order: "shop, application",
    },
    Table {
        name: "console_sessions",
        columns: &[
            ("shop", Text),
            ("id_hash", Text),
            ("key", Text),
            ("started", Int),
            ("used", Int),
        ],
        order: "shop, id_hash",
    },
    Table {
        name: "shadow",
        columns: &[
            ("shop", Text),
            ("sample", Text),
            ("rules", Text),
            ("at", Text),
            ("data", Text),
        ],
        order: "shop, sample, rules",
    },
    Table {
        name: "order_lines",
        columns: &[
            ("shop", Text),
            ("order_id", Text),
            ("sku_id", Text),
            ("content_id", Text),
            ("amount", Real),
            ("quantity", Int),
            ("refunded_quantity", Int),
        ],
        order: "shop, order_id, sku_id, content_id",
    },
    Table {
        name: "creator_names",
        columns: &[("shop", Text), ("creator", Text), ("username", Text)],
        order: "shop, creator",
    },
    Table {
        name: "product_titles",
        columns: &[("shop", Text), ("product", Text), ("title", Text)],
        order: "shop, product",
    },
];

/// Tables that came after schema 7: SQLite's rebuild of schema 7's tables leaves them out (they
/// are made new).
pub(crate) const AFTER_V7: &[&str] = &["order_lines", "creator_names", "product_titles"];

// The connector's order lines (`store/connector.rs`): in [`TABLES`], so that `copy` moves them,
// and in [`AFTER_V7`], so that schema 7's rebuild makes them new.

/// SQLite's table (schema 9).
pub(crate) const SQLITE_ORDER_LINES: &str = "
CREATE TABLE IF NOT EXISTS order_lines (
    shop TEXT NOT NULL,
    order_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    content_id TEXT NOT NULL,
    amount REAL NOT NULL,
    quantity INTEGER NOT NULL,
    refunded_quantity INTEGER NOT NULL,
    PRIMARY KEY (shop, order_id, sku_id, content_id)
);
CREATE INDEX IF NOT EXISTS order_lines_content ON order_lines(shop, content_id);
";

/// PostgreSQL's table (schema 3).
pub(crate) const PG_ORDER_LINES: &str = r#"
CREATE TABLE sampleflow.order_lines (
    shop text COLLATE "C" NOT NULL,
    order_id text COLLATE "C" NOT NULL,
    sku_id text COLLATE "C" NOT NULL,
    content_id text COLLATE "C" NOT NULL,
    amount double precision NOT NULL,
    quantity bigint NOT NULL,
    refunded_quantity bigint NOT NULL,
    PRIMARY KEY (shop, order_id, sku_id, content_id)
);
CREATE INDEX order_lines_content ON sampleflow.order_lines (shop, content_id);
"#;
