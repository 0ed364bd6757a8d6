using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// CSV as PostgreSQL's COPY writes it, streamed byte for byte into the response: the dialect
/// uploads read (RFC 4180, a header of column names, empty unquoted fields for null, ISO
/// dates, timestamps in UTC with their offset, t/f), so an export uploads back unchanged, and
/// nothing is decoded or re-encoded on the way, which keeps it as fast as <c>psql \copy</c>.
/// </summary>
public static class CsvExport
{
    /// <summary>Output settings of the export's transaction only; literals, no client value.</summary>
    private const string DialectSql = "set local timezone = 'UTC'; set local datestyle = 'ISO, YMD'";

    public static async Task WriteAsync(HttpContext context, NpgsqlConnection connection, string tenantId, RowQuery query,
        bool ordered, CancellationToken cancellationToken)
    {
        var sql = RowSql.For(tenantId, query, forCopy: true, ordered, extraRow: false);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, cancellationToken);
        await using (var dialect = new NpgsqlCommand(DialectSql, connection, transaction))
        {
            await dialect.ExecuteNonQueryAsync(cancellationToken);
        }

        if (sql.Settings.Count > 0)
        {
            var (setSql, parameters) = sql.SetSettingsSql();
            await using var set = new NpgsqlCommand(setSql, connection, transaction);
            set.Parameters.AddRange(parameters.ToArray());
            await set.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var copy = await connection.BeginRawBinaryCopyAsync(
                         $"copy ({sql.Text}) to stdout (format csv, header true)", cancellationToken))
        {
            await copy.CopyToAsync(context.Response.Body, 64 * 1024, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
