//! MySQL/MariaDB execution with sqlx (stub: being written).

use std::time::Duration;

use super::{ReadOutput, ReadRequest, WriteOutput, WriteRequest};
use crate::config::DatabaseConfig;
use crate::error::{ApiError, ApiResult};
use crate::schema::Table;

pub struct MySqlBackend {}

fn todo() -> ApiError {
    ApiError::internal("MySQL/MariaDB support is not finished")
}

impl MySqlBackend {
    pub async fn open(_cfg: &DatabaseConfig, _request_timeout: Duration) -> Result<Self, String> {
        Err("MySQL/MariaDB support is not finished".into())
    }

    pub fn dialect(&self) -> &'static dyn crate::sql::Dialect {
        &crate::sql::sqlite::Sqlite
    }

    pub async fn read(&self, _r: ReadRequest) -> ApiResult<ReadOutput> {
        Err(todo())
    }

    pub async fn write(&self, _w: WriteRequest) -> ApiResult<WriteOutput> {
        Err(todo())
    }

    pub async fn ping(&self) -> bool {
        false
    }

    pub async fn introspect(&self, _names: Vec<String>) -> Result<Vec<Option<Table>>, String> {
        Err("MySQL/MariaDB support is not finished".into())
    }

    pub async fn list_tables(&self) -> Result<Vec<String>, String> {
        Err("MySQL/MariaDB support is not finished".into())
    }

    pub async fn run_script(&self, _sql: String) -> Result<(), String> {
        Err("MySQL/MariaDB support is not finished".into())
    }
}
