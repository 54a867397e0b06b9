//! User structs and enums as params and results, by position and by name,
//! over an in-memory connection.

use std::borrow::Cow;
use std::collections::HashMap;

use duplexrpc_core::{PeerBuilder, RpcError, rpc, transport::memory};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub age: u32,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meters(pub f64);

#[rpc(namespace = "users")]
pub trait Users {
    async fn create(&self, user: User) -> Result<u64, RpcError>;
    async fn get(&self, id: u64) -> Result<Option<User>, RpcError>;
    async fn area(&self, shape: Shape) -> Result<Meters, RpcError>;
    async fn index(&self, users: Vec<User>) -> Result<HashMap<String, Vec<u32>>, RpcError>;
    async fn pair(&self, pair: (User, Shape)) -> Result<(String, Shape), RpcError>;
    /// `'static` borrows nothing: allowed.
    async fn shout(&self, text: Cow<'static, str>) -> Result<Cow<'static, str>, RpcError>;
}

struct Service;

impl Users for Service {
    async fn create(&self, user: User) -> Result<u64, RpcError> {
        Ok(user.name.len() as u64)
    }

    async fn get(&self, id: u64) -> Result<Option<User>, RpcError> {
        Ok((id == 1).then(|| User {
            name: "ada".into(),
            age: 36,
            tags: vec!["math".into()],
        }))
    }

    async fn area(&self, shape: Shape) -> Result<Meters, RpcError> {
        Ok(Meters(match shape {
            Shape::Circle { radius } => 3.0 * radius * radius,
            Shape::Square { side } => side * side,
        }))
    }

    async fn index(&self, users: Vec<User>) -> Result<HashMap<String, Vec<u32>>, RpcError> {
        Ok(users.into_iter().map(|u| (u.name, vec![u.age])).collect())
    }

    async fn pair(&self, pair: (User, Shape)) -> Result<(String, Shape), RpcError> {
        Ok((pair.0.name, pair.1))
    }

    async fn shout(&self, text: Cow<'static, str>) -> Result<Cow<'static, str>, RpcError> {
        Ok(Cow::Owned(text.to_uppercase()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
    let mut server = PeerBuilder::new();
    server.register(Service.into_methods()).unwrap();
    let server = server.start(a_tx, a_rx);
    let client = UsersClient::new(PeerBuilder::new().start(b_tx, b_rx));

    let ada = client.get(1).await.unwrap().unwrap();
    assert_eq!(ada.name, "ada");
    assert_eq!(client.get(2).await, Ok(None));
    assert_eq!(client.create(ada.clone()).await, Ok(3));
    assert_eq!(client.area(Shape::Square { side: 2.0 }).await, Ok(Meters(4.0)));
    let index = client.index(vec![ada.clone()]).await.unwrap();
    assert_eq!(index["ada"], [36]);
    let square = Shape::Square { side: 1.0 };
    assert_eq!(
        client.pair((ada, square.clone())).await,
        Ok(("ada".to_owned(), square))
    );

    assert_eq!(client.shout(Cow::Borrowed("hi")).await, Ok(Cow::Borrowed("HI")));

    // By name: the keys are the argument names.
    let reply = Service
        .into_methods()
        .call("users.area", r#"{"shape": {"kind": "circle", "radius": 1.0}}"#)
        .await;
    assert_eq!(reply.unwrap(), "3.0");

    server.close().await;
}
