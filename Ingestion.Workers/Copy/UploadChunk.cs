using Npgsql;

namespace Ingestion.Workers.Copy;

/// <summary>
/// One chunk of an upload loaded in chunks: a byte range that starts and ends at record
/// boundaries, and its own checkpoint (the end of its last committed record, its counts), moved
/// only in the transaction that commits one of its batches, exactly as a one-chunk job's
/// <see cref="Checkpoint"/> is.
/// </summary>
internal sealed record UploadChunk(
    Guid JobId,
    int Number,
    long StartOffset,
    long EndOffset,
    long StartLine,
    long ByteOffset,
    long Line,
    long RowsLoaded,
    long RowsRejected,
    string State,
    int Attempts,
    int Evictions,
    int? HaltedAttempt)
{
    public const string Pending = "pending";
    public const string Sent = "sent";
    public const string Loaded = "loaded";
    public const string Done = "done";

    private const string Columns =
        "job_id, chunk, start_offset, end_offset, start_line, byte_offset, line, rows_loaded, rows_rejected, state, attempts, evictions, " +
        "halted_attempt";

    private const string FindSql = $"select {Columns} from ingestion.upload_chunks where job_id = @job and chunk = @chunk";

    private const string LockSql = $"select {Columns} from ingestion.upload_chunks where job_id = @job and chunk = @chunk for update";

    private const string RecordBatchSql = """
        insert into ingestion.upload_chunk_batches (job_id, chunk, xid, from_line, to_line)
        values (@job, @chunk, pg_current_xact_id(), @from_line, @to_line)
        """;

    private const string AttemptSql = $"""
        update ingestion.upload_chunks set attempts = attempts + 1, updated_at = now()
        where job_id = @job and chunk = @chunk returning {Columns}
        """;

    // Says what this worker reads (ReaderFence): the batches of workers before migrations 0037 and 0038 on a compressed
    // file's chunk, or a UTF-16 JSON Lines file's, are refused.
    private const string AdvanceSql = $"""
        with reader as ({ReaderFence.Settings})
        update ingestion.upload_chunks
        set byte_offset = @to_offset, line = @to_line, rows_loaded = rows_loaded + @loaded,
            rows_rejected = rows_rejected + @rejected, state = @state, updated_at = now()
        from reader
        where job_id = @job and chunk = @chunk and byte_offset = @from_offset and state = 'sent' and evictions = @evictions
        returning {Columns}
        """;

    /// <summary>Whether the job halted its chunks at <paramref name="attempt"/> (or later): it failed or was cancelled, nothing more commits.</summary>
    public bool HaltedAt(int attempt) => HaltedAttempt >= attempt;

    /// <summary>Where a chunk's rows wait for the chunks before it (keyed datasets): a table of its own, dropped when applied.</summary>
    public string StageTable => StageTableOf(JobId, Number);

    /// <summary>Built from a uuid's hex digits and a number only, so it needs no quoting.</summary>
    public static string StageTableOf(Guid jobId, int chunk) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"ingestion.upload_stage_{jobId:N}_{chunk}");

    public static async Task<UploadChunk?> FindAsync(NpgsqlConnection connection, Guid jobId, int chunk,
        CancellationToken cancellationToken) =>
        await ReadAsync(Command(connection, FindSql, jobId, chunk), cancellationToken);

    /// <summary>Counts one more attempt at the chunk (a delivery that took its lock), committed at once.</summary>
    public static async Task<UploadChunk?> BeginAttemptAsync(NpgsqlConnection connection, Guid jobId, int chunk,
        CancellationToken cancellationToken) =>
        await ReadAsync(Command(connection, AttemptSql, jobId, chunk), cancellationToken);

    /// <summary>
    /// Locks the chunk's row first thing in a batch's transaction, and reads it: an eviction
    /// (<see cref="ChunkEviction"/>) waits for the batch to commit, or the batch sees that one came first.
    /// </summary>
    public async Task<UploadChunk> LockAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        await ReadAsync(Command(connection, LockSql, JobId, Number), cancellationToken)
        ?? throw new InvalidOperationException($"Chunk {Number} of job {JobId} no longer exists. This batch is not committed.");

    /// <summary>
    /// Records, in the transaction of a batch that wrote rows into the table, that transaction's id: the
    /// <c>xmin</c> of the rows, by which a clash with an earlier chunk finds and evicts this one.
    /// </summary>
    public async Task RecordBatchAsync(NpgsqlConnection connection, long fromLine, long toLine, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, RecordBatchSql, JobId, Number);
        command.Parameters.AddWithValue("from_line", fromLine);
        command.Parameters.AddWithValue("to_line", toLine);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Moves the chunk's checkpoint past a batch, inside the batch's transaction, fenced on the offset
    /// the batch started from. At the chunk's end it becomes <paramref name="state"/>: done, or loaded
    /// when its rows wait in its stage to be applied in file order.
    /// </summary>
    public async Task<UploadChunk> AdvanceAsync(NpgsqlConnection connection, long toOffset, long toLine, long loaded,
        long rejected, string state, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, AdvanceSql, JobId, Number);
        command.Parameters.AddWithValue("from_offset", ByteOffset);
        command.Parameters.AddWithValue("evictions", Evictions);
        command.Parameters.AddWithValue("to_offset", toOffset);
        command.Parameters.AddWithValue("to_line", toLine);
        command.Parameters.AddWithValue("loaded", loaded);
        command.Parameters.AddWithValue("rejected", rejected);
        command.Parameters.AddWithValue("state", state);
        return await ReadAsync(command, cancellationToken)
            ?? throw new InvalidOperationException(
                $"Chunk {Number} of job {JobId} is no longer at byte {ByteOffset}: another attempt moved it. This batch is not committed.");
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, Guid jobId, int chunk)
    {
        var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("chunk", chunk);
        return command;
    }

    private static async Task<UploadChunk?> ReadAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using (command)
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            return new UploadChunk(reader.GetGuid(0), reader.GetInt32(1), reader.GetInt64(2), reader.GetInt64(3),
                reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8),
                reader.GetString(9), reader.GetInt32(10), reader.GetInt32(11), reader.IsDBNull(12) ? null : reader.GetInt32(12));
        }
    }
}
