// What `tonic-prost-build` would generate for
//
//     service Echo {
//       rpc Say(SayRequest) returns (SayResponse);
//       rpc Ping(SayRequest) returns (SayResponse);
//     }
//
// cut down to what `mcp_auth::service!` needs: the messages (prost messages: the generated
// server uses tonic-prost's codec) and the server trait; `EchoServer` as tonic's module has it.
// Included by the UI cases with `include!`.

#[derive(Clone, PartialEq, prost::Message)]
pub struct SayRequest {
    #[prost(string, tag = "1")]
    pub message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SayResponse {
    #[prost(string, tag = "1")]
    pub message: String,
}

pub mod echo_server {
    #[tonic::async_trait]
    pub trait Echo: Send + Sync + 'static {
        async fn say(
            &self,
            request: tonic::Request<super::SayRequest>,
        ) -> Result<tonic::Response<super::SayResponse>, tonic::Status>;
        async fn ping(
            &self,
            request: tonic::Request<super::SayRequest>,
        ) -> Result<tonic::Response<super::SayResponse>, tonic::Status>;
    }

    #[derive(Debug)]
    pub struct EchoServer<T>(T);

    impl<T> EchoServer<T> {
        pub fn new(inner: T) -> Self {
            Self(inner)
        }
    }
}
