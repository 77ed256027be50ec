//! What the connector keeps beside the outbox, on either backend: a few values of its own under
//! the shop's `meta` (the access token's expiry, the orders' watermark, a quota's hold: never a
//! token), and the lines of the orders attributed to creators' content (`order_lines`), from
//! which a content's sales to date are summed.

use rusqlite::params;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::StoreError;

/// One SKU line of an order attributed to a creator's content.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    pub order_id: String,
    pub sku_id: String,
    pub content_id: String,
    /// The unit price, in the shop's currency.
    pub amount: f64,
    pub quantity: i64,
    pub refunded_quantity: i64,
}

/// A content's sales to date: orders with at least one unit not refunded, and the GMV of the
/// units not refunded.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentSales {
    pub content_id: String,
    pub orders: i64,
    pub gmv: f64,
}

/// The key a connector value is kept under in `meta` (beside the runner's own keys).
fn key(name: &str) -> String {
    format!("connector:{name}")
}

/// The totals, as both backends sum them (in the same order: by content).
const SALES: &str = "SELECT content_id,
        sum(CASE WHEN quantity > refunded_quantity THEN 1 ELSE 0 END),
        sum(amount * (quantity - refunded_quantity))
    FROM order_lines WHERE shop = ?1 GROUP BY content_id ORDER BY content_id";

impl SqliteStore {
    pub fn connector_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE shop = ?1 AND key = ?2",
                [self.shop.as_str(), &key(name)],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_connector_value(
        &mut self,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        match value {
            Some(v) => self.conn().execute(
                "INSERT OR REPLACE INTO meta (shop, key, value) VALUES (?1, ?2, ?3)",
                params![self.shop, key(name), v],
            )?,
            None => self.conn().execute(
                "DELETE FROM meta WHERE shop = ?1 AND key = ?2",
                params![self.shop, key(name)],
            )?,
        };
        Ok(())
    }

    pub fn put_order_lines(&mut self, lines: &[OrderLine]) -> Result<(), StoreError> {
        let shop = self.shop.clone();
        let tx = self.conn_mut().transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO order_lines
                 (shop, order_id, sku_id, content_id, amount, quantity, refunded_quantity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for l in lines {
                put.execute(params![
                    shop,
                    l.order_id,
                    l.sku_id,
                    l.content_id,
                    l.amount,
                    l.quantity,
                    l.refunded_quantity
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn content_sales(&self) -> Result<Vec<ContentSales>, StoreError> {
        let mut stmt = self.conn().prepare(SALES)?;
        let rows = stmt
            .query_map([&self.shop], |r| {
                Ok(ContentSales {
                    content_id: r.get(0)?,
                    orders: r.get(1)?,
                    gmv: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

impl PgStore {
    pub fn connector_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = self.pg().borrow_mut().query_opt(
            "SELECT value FROM sampleflow.meta WHERE shop = $1 AND key = $2",
            &[&super::Store::shop(self), &key(name)],
        )?;
        Ok(row.map(|r| r.get(0)))
    }

    pub fn set_connector_value(
        &mut self,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let shop = super::Store::shop(self).to_string();
        match value {
            Some(v) => self.pg().borrow_mut().execute(
                "INSERT INTO sampleflow.meta (shop, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (shop, key) DO UPDATE SET value = $3",
                &[&shop, &key(name), &v],
            )?,
            None => self.pg().borrow_mut().execute(
                "DELETE FROM sampleflow.meta WHERE shop = $1 AND key = $2",
                &[&shop, &key(name)],
            )?,
        };
        Ok(())
    }

    pub fn put_order_lines(&mut self, lines: &[OrderLine]) -> Result<(), StoreError> {
        let shop = super::Store::shop(self).to_string();
        let mut client = self.pg().borrow_mut();
        let mut tx = client.transaction()?;
        let put = tx.prepare(
            "INSERT INTO sampleflow.order_lines
             (shop, order_id, sku_id, content_id, amount, quantity, refunded_quantity)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (shop, order_id, sku_id, content_id)
             DO UPDATE SET amount = $5, quantity = $6, refunded_quantity = $7",
        )?;
        for l in lines {
            tx.execute(
                &put,
                &[
                    &shop,
                    &l.order_id,
                    &l.sku_id,
                    &l.content_id,
                    &l.amount,
                    &l.quantity,
                    &l.refunded_quantity,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn content_sales(&self) -> Result<Vec<ContentSales>, StoreError> {
        let sql = SALES
            .replace("FROM order_lines", "FROM sampleflow.order_lines")
            .replace("?1", "$1")
            .replace("THEN 1 ELSE 0 END)", "THEN 1 ELSE 0 END)::bigint");
        let rows = self
            .pg()
            .borrow_mut()
            .query(&sql, &[&super::Store::shop(self)])?;
        rows.iter()
            .map(|r| {
                Ok(ContentSales {
                    content_id: r.try_get(0)?,
                    orders: r.try_get(1)?,
                    gmv: r.try_get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                })
            })
            .collect()
    }
}
