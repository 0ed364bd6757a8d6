using Npgsql;

namespace Ingestion.Workers.Copy;

/// <summary>
/// Where an upload job stands: the end of its last committed record (offset and line) and
/// the counts so far. Moved only inside the transaction that commits a batch.
/// </summary>
internal sealed record Checkpoint(
    Guid JobId,
    string? ETag,
    IReadOnlyList<string> Header,
    long BytesTotal,
    long ByteOffset,
    long Line,
    long RowsLoaded,
    long RowsRejected,
    DateTimeOffset? FinishedAt,
    string? RejectsKey)
{
    private const string Columns =
        "job_id, etag, header, bytes_total, byte_offset, line, rows_loaded, rows_rejected, finished_at, rejects_key";

    private const string FindSql = $"select {Columns} from ingestion.upload_checkpoints where job_id = @job";

    private const string CreateSql = $"""
        insert into ingestion.upload_checkpoints (job_id, etag, header, bytes_total, byte_offset, line)
        values (@job, @etag, @header, @bytes_total, @byte_offset, @line)
        returning {Columns}
        """;

    private const string AdvanceSql = $"""
        update ingestion.upload_checkpoints
        set byte_offset = @to_offset, line = @to_line, rows_loaded = rows_loaded + @loaded,
            rows_rejected = rows_rejected + @rejected, updated_at = now()
        where job_id = @job and byte_offset = @from_offset and finished_at is null
        returning {Columns}
        """;

    private const string FinishSql = $"""
        update ingestion.upload_checkpoints set finished_at = now(), rejects_key = @rejects_key, updated_at = now()
        where job_id = @job returning {Columns}
        """;

    public static async Task<Checkpoint?> FindAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(FindSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>The first checkpoint of a job, just after the header.</summary>
    public static async Task<Checkpoint> CreateAsync(NpgsqlConnection connection, Guid jobId, string? etag,
        IReadOnlyList<string> header, long bytesTotal, long offset, long line, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(CreateSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("etag", (object?)etag ?? DBNull.Value);
        command.Parameters.AddWithValue("header", header.ToArray());
        command.Parameters.AddWithValue("bytes_total", bytesTotal);
        command.Parameters.AddWithValue("byte_offset", offset);
        command.Parameters.AddWithValue("line", line);
        return (await ReadAsync(command, cancellationToken))!;
    }

    /// <summary>
    /// Moves the checkpoint past a batch, inside the batch's transaction. Fenced on the offset
    /// the batch started from: if anything else moved it, the batch must not commit.
    /// </summary>
    public async Task<Checkpoint> AdvanceAsync(NpgsqlConnection connection, long toOffset, long toLine, long loaded,
        long rejected, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(AdvanceSql, connection);
        command.Parameters.AddWithValue("job", JobId);
        command.Parameters.AddWithValue("from_offset", ByteOffset);
        command.Parameters.AddWithValue("to_offset", toOffset);
        command.Parameters.AddWithValue("to_line", toLine);
        command.Parameters.AddWithValue("loaded", loaded);
        command.Parameters.AddWithValue("rejected", rejected);
        return await ReadAsync(command, cancellationToken)
            ?? throw new InvalidOperationException(
                $"The checkpoint of job {JobId} is no longer at byte {ByteOffset}: another attempt moved it. This batch is not committed.");
    }

    public async Task<Checkpoint> FinishAsync(NpgsqlConnection connection, string? rejectsKey, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(FinishSql, connection);
        command.Parameters.AddWithValue("job", JobId);
        command.Parameters.AddWithValue("rejects_key", (object?)rejectsKey ?? DBNull.Value);
        return (await ReadAsync(command, cancellationToken))!;
    }

    private static async Task<Checkpoint?> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new Checkpoint(
            reader.GetGuid(0),
            reader.IsDBNull(1) ? null : reader.GetString(1),
            reader.GetFieldValue<string[]>(2),
            reader.GetInt64(3),
            reader.GetInt64(4),
            reader.GetInt64(5),
            reader.GetInt64(6),
            reader.GetInt64(7),
            reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8),
            reader.IsDBNull(9) ? null : reader.GetString(9));
    }
}
