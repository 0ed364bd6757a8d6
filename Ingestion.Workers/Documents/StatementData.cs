using System.Data;
using Ingestion.Platform.Accounts;
using Ingestion.Platform.Tenancy;
using Npgsql;

namespace Ingestion.Workers.Documents;

/// <summary>Totals of one currency over the statement's period.</summary>
internal sealed record CurrencySummary(string Currency, decimal Opening, decimal MoneyIn, decimal MoneyOut, long Lines)
{
    public decimal Closing => Opening + MoneyIn + MoneyOut;
}

/// <summary>A row of an analytics table: a category, a month or a merchant, in one currency.</summary>
internal sealed record Breakdown(string Label, string Currency, decimal MoneyIn, decimal MoneyOut, long Count)
{
    public decimal Net => MoneyIn + MoneyOut;
}

internal sealed record Attachment(Guid DocumentId, string FileName, string Key, long Bytes, int Pages);

internal sealed record StatementLine(DateTime OccurredAt, string? Description, string? Merchant, string? Category, decimal Amount, string Currency);

/// <summary>
/// What a statement is made of, read from the tenant's <c>transactions</c>: small aggregates
/// first, then the lines as one streamed, ordered query that is read as pages are drawn.
/// The period is [from, to + 1 day) in UTC. Every read runs in one read-only REPEATABLE READ
/// transaction, so all of them see the snapshot taken at the first: a load committing while
/// the statement is read shows in none, and the cover's totals always agree with the lines.
/// </summary>
internal sealed class StatementData(NpgsqlConnection connection, NpgsqlTransaction snapshot, string tenantId, long accountId,
    DateOnly from, DateOnly to) : IAsyncDisposable
{
    public const int TopCategories = 25;
    public const int TopMerchants = 15;

    private readonly string _table = TenantSchema.QualifiedTable(tenantId, "transactions");
    private readonly DateTime _from = from.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
    private readonly DateTime _to = to.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);

    private const string Period = "account_id = @account and occurred_at >= @from and occurred_at < @to";

    /// <summary>Begins the snapshot on <paramref name="connection"/> (session advisory locks it holds are untouched).</summary>
    public static async Task<StatementData> OpenAsync(NpgsqlConnection connection, string tenantId, long accountId, DateOnly from,
        DateOnly to, CancellationToken cancellationToken)
    {
        var snapshot = await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        await using (var readOnly = new NpgsqlCommand("set transaction read only", connection, snapshot))
        {
            await readOnly.ExecuteNonQueryAsync(cancellationToken);
        }

        return new StatementData(connection, snapshot, tenantId, accountId, from, to);
    }

    /// <summary>Ends the snapshot; it wrote nothing, so nothing is lost by rolling it back.</summary>
    public ValueTask DisposeAsync() => snapshot.DisposeAsync();

    public Task<List<CurrencySummary>> SummaryAsync(CancellationToken cancellationToken) => ReadAsync(AccountFigures.SummarySql(_table),
        r => new CurrencySummary(r.GetString(0).Trim(), r.GetDecimal(1), r.GetDecimal(2), r.GetDecimal(3), r.GetInt64(4)),
        cancellationToken);

    public Task<List<Breakdown>> CategoriesAsync(CancellationToken cancellationToken) => BreakdownAsync(
        AccountFigures.CategoryLabel, $"{AccountFigures.CategoryOrder} limit {TopCategories}", cancellationToken);

    public Task<List<Breakdown>> MerchantsAsync(CancellationToken cancellationToken) => BreakdownAsync(
        "coalesce(merchant, '(none)')", $"count(*) desc, sum(abs(amount)) desc limit {TopMerchants}", cancellationToken);

    public Task<List<Breakdown>> MonthsAsync(CancellationToken cancellationToken) => BreakdownAsync(
        AccountFigures.MonthLabel, AccountFigures.MonthOrder, cancellationToken);

    public Task<List<Attachment>> AttachmentsAsync(CancellationToken cancellationToken)
    {
        const string sql = """
            select document_id, file_name, object_key, bytes, pages from ingestion.account_documents
            where tenant_id = @tenant and account_id = @account order by created_at, document_id
            """;
        return ReadAsync(sql, r => new Attachment(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetInt32(4)),
            cancellationToken, withPeriod: false);
    }

    /// <summary>The lines in order, streamed: rows arrive as they are read, never all at once.</summary>
    public async Task<NpgsqlDataReader> OpenLinesAsync(CancellationToken cancellationToken)
    {
        var command = Command($"""
            select occurred_at, description, merchant, category, amount, currency from {_table}
            where {Period} order by occurred_at, transaction_id
            """);
        return await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken);
    }

    public static StatementLine Line(NpgsqlDataReader reader) => new(
        reader.GetDateTime(0),
        reader.IsDBNull(1) ? null : reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetString(2),
        reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.GetDecimal(4),
        reader.GetString(5).Trim());

    private Task<List<Breakdown>> BreakdownAsync(string label, string orderBy, CancellationToken cancellationToken) => ReadAsync(
        AccountFigures.BreakdownSql(_table, label, orderBy),
        r => new Breakdown(r.GetString(0), r.GetString(1).Trim(), r.GetDecimal(2), r.GetDecimal(3), r.GetInt64(4)),
        cancellationToken);

    private async Task<List<T>> ReadAsync<T>(string sql, Func<NpgsqlDataReader, T> map, CancellationToken cancellationToken,
        bool withPeriod = true)
    {
        await using var command = withPeriod ? Command(sql) : new NpgsqlCommand(sql, connection, snapshot);
        if (!withPeriod)
        {
            command.Parameters.AddWithValue("tenant", tenantId);
            command.Parameters.AddWithValue("account", accountId);
        }

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    private NpgsqlCommand Command(string sql)
    {
        var command = new NpgsqlCommand(sql, connection, snapshot);
        command.Parameters.AddWithValue("account", accountId);
        command.Parameters.AddWithValue("from", _from);
        command.Parameters.AddWithValue("to", _to);
        return command;
    }
}
