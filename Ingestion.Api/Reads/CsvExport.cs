using System.Text;
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
    private const int BufferChars = 64 * 1024;

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

        // Npgsql hands out a text COPY only as characters; ASCII-heavy CSV decodes and re-encodes
        // at memory speed (vectorized), in one buffer of each, whatever the size of the export.
        using (var copy = await connection.BeginTextExportAsync($"copy ({sql.Text}) to stdout (format csv, header true)",
                   cancellationToken))
        {
            var chars = new char[BufferChars];
            var bytes = new byte[Encoding.UTF8.GetMaxByteCount(BufferChars)];
            var encoder = Encoding.UTF8.GetEncoder();
            var body = context.Response.Body;
            int read;
            while ((read = await copy.ReadAsync(chars.AsMemory(), cancellationToken)) > 0)
            {
                var count = encoder.GetBytes(chars, 0, read, bytes, 0, flush: false);
                await body.WriteAsync(bytes.AsMemory(0, count), cancellationToken);
            }
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
