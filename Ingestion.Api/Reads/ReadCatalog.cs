using Ingestion.Platform.Datasets;

namespace Ingestion.Api.Reads;

/// <summary>A dataset as a read sees it: its definition, its change counter and how many rows loads put in it.</summary>
public sealed record ReadTarget(DatasetDefinition Dataset, long Version, long Rows);

/// <summary>
/// What a read asks before its query, in one round trip to the read database. The counter is
/// read before the rows, so an answer is never older than its ETag says (at worst newer,
/// which costs the client one more full answer, never a stale one).
/// </summary>
public sealed class ReadCatalog(ReadDatabase database)
{
    private const string DatasetSql = """
        select d.definition, coalesce(c.version, 0), coalesce(c.rows_loaded, 0)
        from ingestion.datasets d
        left join ingestion.dataset_changes c on c.tenant_id = d.tenant_id and c.dataset = d.name
        where d.tenant_id = @tenant and d.name = @name
        """;

    private const string AccountSql =
        "select version from ingestion.account_changes where tenant_id = @tenant and account_id = @account";

    public async Task<ReadTarget?> FindAsync(string tenantId, string name, CancellationToken cancellationToken)
    {
        if (!Identifier.IsValid(name))
        {
            return null;
        }

        await using var command = database.DataSource.CreateCommand(DatasetSql);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new ReadTarget(DatasetCatalog.Deserialize(reader.GetString(0)), reader.GetInt64(1), reader.GetInt64(2))
            : null;
    }

    /// <summary>The account's change counter; null when no load ever put a transaction of it in this tenant's data.</summary>
    public async Task<long?> AccountVersionAsync(string tenantId, long accountId, CancellationToken cancellationToken)
    {
        await using var command = database.DataSource.CreateCommand(AccountSql);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("account", accountId);
        return await command.ExecuteScalarAsync(cancellationToken) as long?;
    }
}
