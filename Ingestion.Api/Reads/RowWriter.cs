using System.Buffers;
using System.Data;
using System.Globalization;
using System.Text.Json;
using Ingestion.Platform.Datasets;
using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// Writes rows as PostgreSQL sends them: a JSON page (rows, then where the next page starts)
/// or NDJSON, one row a line, straight into the response. Rows are read one at a time from
/// the open query and flushed every few kilobytes, so memory stays flat whatever the count.
/// </summary>
public static class RowWriter
{
    private const int FlushBytes = 32 * 1024;

    /// <summary>
    /// A JSON page is held until it is complete up to this size (a page of the largest limit of
    /// ordinary rows fits), so a timeout mid-page is still a problem response; a larger one streams.
    /// </summary>
    private const int PageBufferBytes = 512 * 1024;

    /// <summary>
    /// Writes a JSON page: <c>{"rows": [...], "nextCursor": …, "next": …}</c>. Returns null once
    /// written, or the exception when the query ran past <paramref name="timeout"/> before the page
    /// was sent (before its first row, where a slow plan spends its time, or in the middle of the
    /// page, where a filter that matches few rows of many does): nothing written yet.
    /// </summary>
    public static async Task<Exception?> WritePageAsync(HttpContext context, NpgsqlConnection connection, string tenantId,
        RowQuery query, string rowsProperty, RowCursor cursors, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var sql = RowSql.For(tenantId, query, forCopy: false, ordered: true, extraRow: true);
        await using var command = Command(connection, sql, timeout);
        NpgsqlDataReader? opened = null;
        bool row;
        try
        {
            opened = await command.ExecuteReaderAsync(cancellationToken);
            row = await opened.ReadAsync(cancellationToken);
        }
        catch (Exception exception) when (PageTimeouts.IsTimeout(exception, cancellationToken))
        {
            if (opened is not null)
            {
                await opened.DisposeAsync();
            }

            return exception;
        }

        await using var reader = opened;
        using var output = new PageBuffer(context.Response.BodyWriter, PageBufferBytes);
        await using var json = new Utf8JsonWriter(output);
        json.WriteStartObject();
        json.WriteStartArray(rowsProperty);
        var ordinals = OrderOrdinals(query, sql);
        var last = new object[ordinals.Length];
        var written = 0;
        var more = false;
        try
        {
            for (; row; row = await reader.ReadAsync(cancellationToken))
            {
                if (written == query.Limit)
                {
                    more = true;
                    break;
                }

                WriteRow(json, reader, query.Fields);
                written++;
                if (written == query.Limit)
                {
                    // Only the page's last row can start the next page: its values alone are kept (boxed), not every row's.
                    for (var i = 0; i < ordinals.Length; i++)
                    {
                        last[i] = ordinals[i] < 0 ? reader.GetString(~ordinals[i]) : reader.GetValue(ordinals[i]);
                    }
                }

                if (json.BytesPending >= FlushBytes)
                {
                    json.Flush();
                    await output.SendAsync(complete: false, cancellationToken);
                }
            }
        }
        catch (Exception exception) when (PageTimeouts.IsTimeout(exception, cancellationToken) && !output.Spilled)
        {
            // Nothing was sent: the held half-page is dropped and the caller answers with the problem.
            json.Reset();
            return exception;
        }

        json.WriteEndArray();
        if (more)
        {
            var cursor = cursors.Encode(query.Shape, last.Select(v => v is string s ? s : ColumnValues.Format(v)).ToList());
            json.WriteString("nextCursor", cursor);
            json.WriteString("next", NextLink(context.Request, cursor));
        }
        else
        {
            json.WriteNull("nextCursor");
            json.WriteNull("next");
        }

        json.WriteEndObject();
        json.Flush();
        await output.SendAsync(complete: true, cancellationToken);
        return null;
    }

    /// <summary>Writes every selected row as a line of JSON.</summary>
    public static async Task WriteNdjsonAsync(HttpContext context, NpgsqlConnection connection, string tenantId, RowQuery query,
        bool ordered, CancellationToken cancellationToken)
    {
        var sql = RowSql.For(tenantId, query, forCopy: false, ordered, extraRow: false);
        await using var command = Command(connection, sql, TimeSpan.Zero);
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken);
        var output = context.Response.BodyWriter;
        var json = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        await using (json)
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                WriteRow(json, reader, query.Fields);
                json.Flush();
                output.Write("\n"u8);
                json.Reset(output);
                if (output.UnflushedBytes >= FlushBytes)
                {
                    await output.FlushAsync(cancellationToken);
                }
            }
        }

        await output.FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Where a page continues: this request's own URL with its <c>cursor</c> replaced, relative
    /// to the API's root, so it stays right behind any proxy that keeps the path.
    /// </summary>
    public static string NextLink(HttpRequest request, string cursor)
    {
        var parameters = request.Query.Where(p => p.Key != "cursor")
            .SelectMany(p => p.Value.Select(v => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(v ?? "")}"))
            .Append($"cursor={Uri.EscapeDataString(cursor)}");
        return $"{request.PathBase}{request.Path}?{string.Join("&", parameters)}";
    }

    internal static NpgsqlCommand Command(NpgsqlConnection connection, RowSql sql, TimeSpan timeout)
    {
        var command = new NpgsqlCommand(sql.Text, connection) { CommandTimeout = (int)Math.Ceiling(timeout.TotalSeconds) };
        command.Parameters.AddRange(sql.Parameters.ToArray());
        return command;
    }

    /// <summary>Ordinal of each order column in the select list; ~ordinal for the row id, read as text.</summary>
    private static int[] OrderOrdinals(RowQuery query, RowSql sql)
    {
        var hidden = sql.HiddenFrom;
        var ordinals = new int[query.Order.Count];
        for (var i = 0; i < ordinals.Length; i++)
        {
            var field = IndexOf(query.Fields, query.Order[i]);
            ordinals[i] = field >= 0 ? field : query.Order[i] == RowQueries.RowId ? ~hidden++ : hidden++;
        }

        return ordinals;
    }

    private static int IndexOf(IReadOnlyList<DatasetColumn> fields, string name)
    {
        for (var i = 0; i < fields.Count; i++)
        {
            if (fields[i].Name == name)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>A date or time as a JSON string, formatted on the stack: a string per value and row was most of a page's garbage.</summary>
    private static void WriteFormatted<T>(Utf8JsonWriter json, T value, string format) where T : IUtf8SpanFormattable
    {
        Span<byte> utf8 = stackalloc byte[64];
        if (!value.TryFormat(utf8, out var length, format, CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException($"A {typeof(T).Name} did not fit 64 bytes as {format}.");
        }

        json.WriteStringValue(utf8[..length]);
    }

    private static void WriteRow(Utf8JsonWriter json, NpgsqlDataReader reader, IReadOnlyList<DatasetColumn> fields)
    {
        json.WriteStartObject();
        for (var i = 0; i < fields.Count; i++)
        {
            var column = fields[i];
            json.WritePropertyName(column.Name);
            if (reader.IsDBNull(i))
            {
                json.WriteNullValue();
                continue;
            }

            switch (column.Type.Kind)
            {
                case ColumnKind.Integer:
                    json.WriteNumberValue(reader.GetInt32(i));
                    break;
                case ColumnKind.BigInt:
                    json.WriteNumberValue(reader.GetInt64(i));
                    break;
                case ColumnKind.Numeric:
                    json.WriteNumberValue(reader.GetDecimal(i));
                    break;
                case ColumnKind.Boolean:
                    json.WriteBooleanValue(reader.GetBoolean(i));
                    break;
                case ColumnKind.Date:
                    WriteFormatted(json, reader.GetFieldValue<DateOnly>(i), "yyyy-MM-dd");
                    break;
                case ColumnKind.TimestampTz:
                    WriteFormatted(json, reader.GetDateTime(i), "yyyy-MM-ddTHH:mm:ss.FFFFFFFK");
                    break;
                case ColumnKind.Uuid:
                    json.WriteStringValue(reader.GetGuid(i));
                    break;
                default:
                    json.WriteStringValue(reader.GetString(i));
                    break;
            }
        }

        json.WriteEndObject();
    }
}
