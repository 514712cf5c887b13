//! C1 messages as the detection jobs read them: a payment or an order
//! parsed from a Kafka value, or the reason it goes to the dead-letter topic
//! (invalid JSON, a missing required field, a field of the wrong type). Pure.

use serde_json::{Map, Value};

/// Why a message cannot be processed (it goes to `kvt_dead_letters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter(pub String);

impl std::fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `payments` message (C1).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Payment {
    pub payment_id: String,
    pub order_id: String,
    pub customer_id: String,
    pub amount: f64,
    pub currency: String,
    pub amount_eur: Option<f64>,
    pub status: String,
    pub payment_method: Option<String>,
    pub psp: Option<String>,
    pub payment_session_id: Option<String>,
    pub card_masked: Option<String>,
    pub card_ref: Option<String>,
    pub risk_score: i64,
    #[serde(default)]
    pub fraud_flag: bool,
    pub billing_country: Option<String>,
    pub ip_address: Option<String>,
    pub ip_country: Option<String>,
    pub device_fingerprint: Option<String>,
    pub user_agent: Option<String>,
    pub processing_time_ms: Option<i64>,
}

/// An `orders` message (C1).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    pub event_type: String,
    pub total_amount: f64,
    pub subtotal: Option<f64>,
    pub discount: Option<f64>,
    pub items_count: i64,
    pub delivery_country: Option<String>,
    pub delivery_method: Option<String>,
    pub channel: Option<String>,
    pub ip_address: Option<String>,
}

/// The fields of one JSON object, with typed accessors naming the field.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn parse(bytes: &[u8]) -> Result<Map<String, Value>, DeadLetter> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(DeadLetter("not a JSON object".into())),
            Err(e) => Err(DeadLetter(format!("invalid JSON: {e}"))),
        }
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn required<T>(
        &self,
        name: &str,
        get: impl Fn(&Self, &str) -> Result<Option<T>, DeadLetter>,
    ) -> Result<T, DeadLetter> {
        get(self, name)?.ok_or_else(|| DeadLetter(format!("missing required field `{name}`")))
    }

    fn wrong(name: &str, want: &str, v: &Value) -> DeadLetter {
        let got = match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        DeadLetter(format!("field `{name}`: expected {want}, got {got}"))
    }

    fn string(&self, name: &str) -> Result<Option<String>, DeadLetter> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(Self::wrong(name, "a string", v)),
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>, DeadLetter> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| DeadLetter(format!("field `{name}`: not a finite number"))),
            Some(v) => Err(Self::wrong(name, "a number", v)),
        }
    }

    fn integer(&self, name: &str) -> Result<Option<i64>, DeadLetter> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(Some(i)),
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Some(f as i64)),
                _ => Err(DeadLetter(format!(
                    "field `{name}`: expected an integer, got {n}"
                ))),
            },
            Some(v) => Err(Self::wrong(name, "an integer", v)),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, DeadLetter> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(Self::wrong(name, "a boolean", v)),
        }
    }
}

/// Parses a `payments` value: straight into the struct when the message
/// is well-formed (no intermediate JSON tree), else field by field for the
/// precise reason (the two agree on every input: see the tests).
pub fn payment(bytes: &[u8]) -> Result<Payment, DeadLetter> {
    match serde_json::from_slice::<Payment>(bytes) {
        Ok(p) if p.amount.is_finite() && p.amount_eur.is_none_or(f64::is_finite) => Ok(p),
        _ => payment_by_field(bytes),
    }
}

fn payment_by_field(bytes: &[u8]) -> Result<Payment, DeadLetter> {
    let map = Fields::parse(bytes)?;
    let f = Fields(&map);
    Ok(Payment {
        payment_id: f.required("payment_id", Fields::string)?,
        order_id: f.required("order_id", Fields::string)?,
        customer_id: f.required("customer_id", Fields::string)?,
        amount: f.required("amount", Fields::number)?,
        currency: f.required("currency", Fields::string)?,
        amount_eur: f.number("amount_eur")?,
        status: f.required("status", Fields::string)?,
        payment_method: f.string("payment_method")?,
        psp: f.string("psp")?,
        payment_session_id: f.string("payment_session_id")?,
        card_masked: f.string("card_masked")?,
        card_ref: f.string("card_ref")?,
        risk_score: f.required("risk_score", Fields::integer)?,
        fraud_flag: f.boolean("fraud_flag")?.unwrap_or(false),
        billing_country: f.string("billing_country")?,
        ip_address: f.string("ip_address")?,
        ip_country: f.string("ip_country")?,
        device_fingerprint: f.string("device_fingerprint")?,
        user_agent: f.string("user_agent")?,
        processing_time_ms: f.integer("processing_time_ms")?,
    })
}

/// Parses an `orders` value (as [`payment`]: a direct path for
/// well-formed messages, field by field otherwise).
pub fn order(bytes: &[u8]) -> Result<Order, DeadLetter> {
    match serde_json::from_slice::<Order>(bytes) {
        Ok(o)
            if o.total_amount.is_finite()
                && o.subtotal.is_none_or(f64::is_finite)
                && o.discount.is_none_or(f64::is_finite) =>
        {
            Ok(o)
        }
        _ => order_by_field(bytes),
    }
}

fn order_by_field(bytes: &[u8]) -> Result<Order, DeadLetter> {
    let map = Fields::parse(bytes)?;
    let f = Fields(&map);
    Ok(Order {
        order_id: f.required("order_id", Fields::string)?,
        customer_id: f.required("customer_id", Fields::string)?,
        event_type: f.required("event_type", Fields::string)?,
        total_amount: f.required("total_amount", Fields::number)?,
        subtotal: f.number("subtotal")?,
        discount: f.number("discount")?,
        items_count: f.required("items_count", Fields::integer)?,
        delivery_country: f.string("delivery_country")?,
        delivery_method: f.string("delivery_method")?,
        channel: f.string("channel")?,
        ip_address: f.string("ip_address")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYMENT: &str = r#"{"payment_id":"PAY-1","order_id":"CMD-1","customer_id":"CUST-1",
        "event_time":"2026-03-17T10:00:00.000Z","amount":120.5,"currency":"USD","amount_eur":110.86,
        "status":"declined","error_code":null,"payment_method":"card","psp":"adyen",
        "payment_session_id":"S-1","card_masked":"497010******1234","card_ref":"CARD-1",
        "risk_score":55,"fraud_flag":false,"billing_country":"FR","ip_address":"10.0.0.1",
        "ip_country":"FR","device_fingerprint":"D-1","user_agent":"Mozilla/5.0",
        "processing_time_ms":4200,"extra":{"kept":true}}"#;

    #[test]
    fn a_c1_payment_parses_with_unknown_fields_ignored() {
        let p = payment(PAYMENT.as_bytes()).unwrap();
        assert_eq!(p.payment_id, "PAY-1");
        assert_eq!(p.amount_eur, Some(110.86));
        assert_eq!(p.risk_score, 55);
        assert_eq!(p.card_masked.as_deref(), Some("497010******1234"));
        assert_eq!(p.processing_time_ms, Some(4200));
    }

    #[test]
    fn hostile_payments_are_dead_letters_with_a_reason() {
        let cases = [
            ("", "invalid JSON"),
            ("{\"payment_id\":", "invalid JSON"),
            ("[1,2]", "not a JSON object"),
            ("\"x\"", "not a JSON object"),
            (
                r#"{"order_id":"C","customer_id":"U","amount":1,"currency":"EUR","status":"succeeded","risk_score":1}"#,
                "missing required field `payment_id`",
            ),
            (
                r#"{"payment_id":null,"order_id":"C","customer_id":"U","amount":1,"currency":"EUR","status":"succeeded","risk_score":1}"#,
                "missing required field `payment_id`",
            ),
            (
                r#"{"payment_id":"P","order_id":"C","customer_id":"U","amount":"12.5","currency":"EUR","status":"succeeded","risk_score":1}"#,
                "field `amount`: expected a number, got a string",
            ),
            (
                r#"{"payment_id":"P","order_id":"C","customer_id":"U","amount":1,"currency":"EUR","status":"succeeded","risk_score":70.5}"#,
                "field `risk_score`: expected an integer",
            ),
            (
                r#"{"payment_id":"P","order_id":"C","customer_id":"U","amount":1,"currency":"EUR","status":"succeeded","risk_score":1,"fraud_flag":"yes"}"#,
                "field `fraud_flag`: expected a boolean, got a string",
            ),
            (
                r#"{"payment_id":7,"order_id":"C","customer_id":"U","amount":1,"currency":"EUR","status":"succeeded","risk_score":1}"#,
                "field `payment_id`: expected a string, got a number",
            ),
        ];
        for (input, reason) in cases {
            let e = payment(input.as_bytes()).unwrap_err();
            assert!(e.0.contains(reason), "{input}: {e}");
        }
        // A whole-number float is an integer.
        let p = payment(
            r#"{"payment_id":"P","order_id":"C","customer_id":"U","amount":1,"currency":"EUR","status":"succeeded","risk_score":70.0}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(p.risk_score, 70);
        assert!(!p.fraud_flag, "absent flag: not set");
    }

    #[test]
    fn orders_parse_and_fail_the_same_way() {
        let o = order(
            r#"{"order_id":"C","customer_id":"U","event_type":"cancelled","total_amount":99.9,
                "subtotal":100,"discount":10.1,"shipping_fee":10,"items_count":5,
                "delivery_country":"BE","delivery_method":"express"}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!((o.items_count, o.discount), (5, Some(10.1)));
        let e =
            order(br#"{"order_id":"C","customer_id":"U","event_type":"created","total_amount":1}"#)
                .unwrap_err();
        assert_eq!(e.0, "missing required field `items_count`");
    }

    #[test]
    fn the_direct_path_agrees_with_the_field_by_field_one() {
        let variants = [
            PAYMENT.to_string(),
            PAYMENT.replace("\"risk_score\":55", "\"risk_score\":55.0"),
            PAYMENT.replace("\"risk_score\":55", "\"risk_score\":55.5"),
            PAYMENT.replace("\"fraud_flag\":false,", ""),
            PAYMENT.replace("\"fraud_flag\":false", "\"fraud_flag\":null"),
            PAYMENT.replace("\"psp\":\"adyen\"", "\"psp\":null"),
            PAYMENT.replace("\"psp\":\"adyen\"", "\"psp\":7"),
            PAYMENT.replace("\"amount\":120.5", "\"amount\":\"120.5\""),
            PAYMENT.replace("\"amount\":120.5", "\"amount\":1e400"),
            PAYMENT.replace("\"amount\":120.5", "\"amount\":120.5,\"amount\":7"),
            PAYMENT.replace("\"payment_id\":\"PAY-1\"", "\"payment_id\":null"),
            PAYMENT.replace(
                "\"processing_time_ms\":4200",
                "\"processing_time_ms\":4200.0",
            ),
            PAYMENT.replace("\"currency\":\"USD\"", "\"currency\":\"\""),
            "[1]".into(),
            "null".into(),
        ];
        for v in &variants {
            assert_eq!(payment(v.as_bytes()), payment_by_field(v.as_bytes()), "{v}");
        }
        let order_json = r#"{"order_id":"O","customer_id":"C","event_type":"created","total_amount":10,
            "subtotal":12.5,"discount":2.5,"items_count":2,"delivery_country":"FR"}"#;
        for v in [
            order_json.to_string(),
            order_json.replace("\"items_count\":2", "\"items_count\":2.0"),
            order_json.replace("\"items_count\":2", "\"items_count\":\"2\""),
            order_json.replace("\"discount\":2.5", "\"discount\":null"),
            order_json.replace("\"total_amount\":10", "\"total_amount\":1e999"),
        ] {
            assert_eq!(order(v.as_bytes()), order_by_field(v.as_bytes()), "{v}");
        }
        // And on random corruptions of a valid message.
        const ALPHABET: &[u8] = b"0123456789.e-\" ,:{}[]nulltrue";
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut b = PAYMENT.as_bytes().to_vec();
            let i = (rng as usize) % b.len();
            b[i] = ALPHABET[((rng >> 40) as usize) % ALPHABET.len()];
            assert_eq!(
                payment(&b),
                payment_by_field(&b),
                "{}",
                String::from_utf8_lossy(&b)
            );
        }
    }

    #[test]
    fn any_bytes_give_an_event_or_a_reason_never_a_panic() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let base = PAYMENT.as_bytes();
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut b = base.to_vec();
            let i = (rng as usize) % b.len();
            b[i] = (rng >> 32) as u8;
            b.truncate(((rng >> 16) as usize) % (b.len() + 1));
            let _ = payment(&b);
            let _ = order(&b);
        }
    }
}
