using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// CSV as PostgreSQL's COPY writes it, streamed byte for byte into the response: the dialect
/// uploads read (RFC 4180, a header of column names, empty unquoted fields for null, ISO
/// dates, timestamps in UTC with their offset, t/f), so an export uploads back unchanged.
/// The server formats and quotes every value; the API only moves its UTF-8 bytes from the
/// connection into the response, never decoding them, which keeps it close to <c>psql \copy</c>.
/// </summary>
public static class CsvExport
{
    /// <summary>
    /// Bytes gathered before they go to the response as one write (one HTTP chunk): PostgreSQL sends
    /// a COPY row a message (about a hundred bytes), and a write per row costs more than the row.
    /// </summary>
    private const int ChunkBytes = 64 * 1024;

    /// <summary>
    /// Output settings of the export's transaction only; literals, no client value. The client
    /// encoding is stated, not assumed, because the bytes go out as they come: the response says UTF-8.
    /// </summary>
    private const string DialectSql =
        "set local timezone = 'UTC'; set local datestyle = 'ISO, YMD'; set local client_encoding = 'UTF8'";

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

        using (var copy = await connection.BeginTextExportAsync($"copy ({sql.Text}) to stdout (format csv, header true)",
                   cancellationToken))
        {
            // Npgsql offers a text COPY only as characters; its reader is a StreamReader over the COPY's
            // own byte stream, which is read here instead, so nothing is decoded and encoded again.
            await CopyAsync(copy.BaseStream, context.Response.BodyWriter, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Moves the COPY's bytes into the response's own buffers, one flush per <see cref="ChunkBytes"/>.</summary>
    private static async Task CopyAsync(Stream rows, System.IO.Pipelines.PipeWriter body, CancellationToken cancellationToken)
    {
        var chunk = body.GetMemory(ChunkBytes);
        var filled = 0;
        int read;
        while ((read = await rows.ReadAsync(chunk[filled..], cancellationToken)) > 0)
        {
            filled += read;
            if (filled >= ChunkBytes)
            {
                body.Advance(filled);
                await body.FlushAsync(cancellationToken);
                chunk = body.GetMemory(ChunkBytes);
                filled = 0;
            }
        }

        body.Advance(filled);
        await body.FlushAsync(cancellationToken);
    }
}
