using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Platform.Datasets;

/// <summary>
/// The change counters the read API makes its ETags of. Whatever loads rows into a dataset
/// calls <see cref="BumpAsync"/> in the transaction that commits them, so a counter moves
/// exactly when readers can see the rows, never before and never without them.
/// </summary>
public static class DatasetChanges
{
    private const string BumpDatasetSql = """
        insert into ingestion.dataset_changes (tenant_id, dataset, version, rows_loaded) values (@tenant, @dataset, 1, @rows)
        on conflict (tenant_id, dataset) do update
        set version = dataset_changes.version + 1, rows_loaded = dataset_changes.rows_loaded + @rows, changed_at = now()
        """;

    /// <summary>Accounts sorted, so two loads that touch the same accounts lock their rows in the same order.</summary>
    private const string BumpAccountsSql = """
        insert into ingestion.account_changes (tenant_id, account_id, version)
        select @tenant, account, 1 from unnest(@accounts) as a(account) order by account
        on conflict (tenant_id, account_id) do update set version = account_changes.version + 1, changed_at = now()
        """;

    /// <summary>
    /// Bumps the dataset's counter (adding <paramref name="rowsLoaded"/> to its size), and the counter of each of <paramref name="accountIds"/> (the
    /// accounts of the built-in transactions the batch touched). Call it last in the batch's
    /// transaction: the counter rows stay locked until commit, so concurrent loads of one
    /// dataset wait for each other only that long.
    /// </summary>
    public static async Task BumpAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string tenantId,
        string dataset, long rowsLoaded, IReadOnlyCollection<long>? accountIds, CancellationToken cancellationToken)
    {
        await using (var bump = new NpgsqlCommand(BumpDatasetSql, connection, transaction))
        {
            bump.Parameters.AddWithValue("tenant", tenantId);
            bump.Parameters.AddWithValue("dataset", dataset);
            bump.Parameters.AddWithValue("rows", rowsLoaded);
            await bump.ExecuteNonQueryAsync(cancellationToken);
        }

        if (accountIds is null || accountIds.Count == 0)
        {
            return;
        }

        await using var accounts = new NpgsqlCommand(BumpAccountsSql, connection, transaction);
        accounts.Parameters.AddWithValue("tenant", tenantId);
        accounts.Parameters.AddWithValue("accounts", NpgsqlDbType.Array | NpgsqlDbType.Bigint, accountIds.ToArray());
        await accounts.ExecuteNonQueryAsync(cancellationToken);
    }
}
