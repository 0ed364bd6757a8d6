using Npgsql;

namespace Ingestion.Workers.Copy;

/// <summary>
/// Where an upload job stands: the end of its last committed record (offset and line) and
/// the counts so far. Moved only inside the transaction that commits a batch. For a job loaded
/// in chunks (<see cref="ChunkBytes"/> set) it is the plan: each chunk has its own checkpoint
/// (<see cref="UploadChunk"/>), and the counts here are written when the chunks join.
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
    string? RejectsKey,
    long? ChunkBytes = null,
    bool ScanDone = false,
    long? CompressedRead = null,
    long? RowsTotal = null,
    long RowsStaged = 0,
    bool Converted = false)
{
    private const string Columns =
        "job_id, etag, header, bytes_total, byte_offset, line, rows_loaded, rows_rejected, finished_at, rejects_key, chunk_bytes, scan_done, " +
        "compressed_read, rows_total, converted";

    private const string FindSql = $"select {Columns} from ingestion.upload_checkpoints where job_id = @job";

    private const string CreateSql = $"""
        insert into ingestion.upload_checkpoints (job_id, etag, header, bytes_total, byte_offset, line, chunk_bytes,
            scanned_offset, scanned_line, rows_total, converted, compressed_read, utf16_json)
        values (@job, @etag, @header, @bytes_total, @byte_offset, @line, @chunk_bytes, @byte_offset, @line, @rows_total,
            @converted, case when @chunk_bytes::bigint is not null and @compressed then 0 end, @utf16_json)
        returning {Columns}
        """;

    // Says what this worker reads (ReaderFence): the batches of workers before migration 0038 on a UTF-16 JSON Lines file
    // are refused.
    private const string AdvanceSql = $"""
        with reader as ({ReaderFence.Settings})
        update ingestion.upload_checkpoints
        set byte_offset = @to_offset, line = @to_line, rows_loaded = rows_loaded + @loaded,
            rows_rejected = rows_rejected + @rejected, compressed_read = @compressed_read, updated_at = now()
        from reader
        where job_id = @job and byte_offset = @from_offset and finished_at is null
        returning {Columns}
        """;

    private const string MarkConvertedSql =
        $"update ingestion.upload_checkpoints set converted = true where job_id = @job returning {Columns}";

    private const string FinishSql = $"""
        update ingestion.upload_checkpoints set finished_at = now(), rejects_key = @rejects_key, updated_at = now(),
            compressed_read = case when compressed_read is null then null else bytes_total end
        where job_id = @job returning {Columns}
        """;

    // The join of a job loaded in chunks: its counts are its chunks' sums, and every byte was read. A compressed file's
    // (compressed_read set) offset is its text's: to the end of its last record, as a one-chunk load ends.
    private static readonly string FinishChunksSql = $"""
        update ingestion.upload_checkpoints p
        set finished_at = now(), rejects_key = @rejects_key, updated_at = now(),
            byte_offset = case when p.compressed_read is null then p.bytes_total else t.text_end end,
            compressed_read = case when p.compressed_read is null then null else p.bytes_total end,
            line = t.line, rows_loaded = t.loaded, rows_rejected = t.rejected
        from (select coalesce(sum(rows_loaded), 0) as loaded, coalesce(sum(rows_rejected), 0) as rejected,
                     coalesce(max(line), 0) as line, coalesce(max(byte_offset), 0) as text_end
              from ingestion.upload_chunks where job_id = @job) t
        where p.job_id = @job and p.finished_at is null
        returning p.{Columns.Replace(", ", ", p.", StringComparison.Ordinal)}
        """;

    public static async Task<Checkpoint?> FindAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(FindSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        return await ReadAsync(command, cancellationToken);
    }

    /// <summary>The first checkpoint of a job, just after the header.</summary>
    /// <param name="chunkBytes">Set: the job is loaded in chunks of about this size, found from here on.</param>
    /// <param name="rowsTotal">Set for a file whose positions are rows (Parquet): its row count.</param>
    /// <param name="converted">An uncompressed file read in another encoding than UTF-8.</param>
    /// <param name="compressed">
    /// A compressed file: loaded in chunks, its compressed bytes read start at 0 (the sums of its chunks' parts), which is
    /// also how its chunks know to decompress (<see cref="CompressedChunks"/>).
    /// </param>
    /// <param name="utf16Json">
    /// A JSON Lines file in UTF-16, which workers before migration 0038 would read as UTF-8: their batches and chunk scans on
    /// it are refused (<c>upload_utf16_json_reader</c>).
    /// </param>
    public static async Task<Checkpoint> CreateAsync(NpgsqlConnection connection, Guid jobId, string? etag,
        IReadOnlyList<string> header, long bytesTotal, long offset, long line, long? chunkBytes, long? rowsTotal, bool converted,
        bool compressed, CancellationToken cancellationToken, bool utf16Json = false)
    {
        await using var command = new NpgsqlCommand(CreateSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("compressed", compressed);
        command.Parameters.AddWithValue("utf16_json", utf16Json);
        command.Parameters.AddWithValue("etag", (object?)etag ?? DBNull.Value);
        command.Parameters.AddWithValue("header", header.ToArray());
        command.Parameters.AddWithValue("bytes_total", bytesTotal);
        command.Parameters.AddWithValue("byte_offset", offset);
        command.Parameters.AddWithValue("line", line);
        command.Parameters.AddWithValue("chunk_bytes", (object?)chunkBytes ?? DBNull.Value);
        command.Parameters.AddWithValue("rows_total", (object?)rowsTotal ?? DBNull.Value);
        command.Parameters.AddWithValue("converted", converted);
        return (await ReadAsync(command, cancellationToken))!;
    }

    /// <summary>
    /// Moves the checkpoint past a batch, inside the batch's transaction. Fenced on the offset
    /// the batch started from: if anything else moved it, the batch must not commit.
    /// </summary>
    /// <param name="compressedRead">
    /// A compressed or converted object: how many of its bytes the decompressor or the converter has read so far.
    /// </param>
    public async Task<Checkpoint> AdvanceAsync(NpgsqlConnection connection, long toOffset, long toLine, long loaded,
        long rejected, CancellationToken cancellationToken, long? compressedRead = null)
    {
        await using var command = new NpgsqlCommand(AdvanceSql, connection);
        command.Parameters.AddWithValue("job", JobId);
        command.Parameters.AddWithValue("from_offset", ByteOffset);
        command.Parameters.AddWithValue("to_offset", toOffset);
        command.Parameters.AddWithValue("to_line", toLine);
        command.Parameters.AddWithValue("loaded", loaded);
        command.Parameters.AddWithValue("rejected", rejected);
        command.Parameters.Add(new NpgsqlParameter<long?>("compressed_read", NpgsqlTypes.NpgsqlDbType.Bigint) { TypedValue = compressedRead });
        return await ReadAsync(command, cancellationToken)
            ?? throw new InvalidOperationException(
                $"The checkpoint of job {JobId} is no longer at byte {ByteOffset}: another attempt moved it. This batch is not committed.");
    }

    /// <summary>
    /// A compressed file loaded in chunks (as its checkpoint is stored, before <c>WithTotalsAsync</c>): its chunks are cut in
    /// its decompressed text. A Parquet file's chunks keep no compressed count (their progress is told by rows).
    /// </summary>
    public bool CompressedChunks => ChunkBytes is not null && CompressedRead is not null && RowsTotal is null;

    /// <summary>
    /// The object's bytes read: for a compressed or converted object, the decompressor's or the converter's input, not the
    /// text's offset.
    /// </summary>
    public long ObjectBytesRead => CompressedRead ?? ByteOffset;

    /// <summary>
    /// The text's bytes read, for a compressed object only (a plain object's are <see cref="ObjectBytesRead"/>); none for a file
    /// whose positions are rows (Parquet), whose object's bytes read are told by its rows, nor for an uncompressed file
    /// converted from another encoding, whose UTF-8 text's length means nothing to its sender.
    /// </summary>
    public long? UncompressedBytesRead => CompressedRead is null || RowsTotal is not null || Converted ? null : ByteOffset;

    /// <summary>
    /// Marks a converted file's checkpoint that a worker before migration 0036 created: from here on its object's bytes are
    /// counted, and its UTF-8 offset is not shown as an uncompressed size.
    /// </summary>
    public async Task<Checkpoint> MarkConvertedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(MarkConvertedSql, connection);
        command.Parameters.AddWithValue("job", JobId);
        return (await ReadAsync(command, cancellationToken))!;
    }

    public async Task<Checkpoint> FinishAsync(NpgsqlConnection connection, string? rejectsKey, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(FinishSql, connection);
        command.Parameters.AddWithValue("job", JobId);
        command.Parameters.AddWithValue("rejects_key", (object?)rejectsKey ?? DBNull.Value);
        return (await ReadAsync(command, cancellationToken))!;
    }

    /// <summary>The join of a job loaded in chunks, in the caller's transaction: its counts become the sums of its chunks'.</summary>
    public async Task<Checkpoint> FinishChunksAsync(NpgsqlConnection connection, string? rejectsKey, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(FinishChunksSql, connection);
        command.Parameters.AddWithValue("job", JobId);
        command.Parameters.AddWithValue("rejects_key", (object?)rejectsKey ?? DBNull.Value);
        return await ReadAsync(command, cancellationToken)
            ?? throw new InvalidOperationException($"Job {JobId} was finished by another attempt. This join is not committed.");
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
            reader.IsDBNull(9) ? null : reader.GetString(9),
            reader.IsDBNull(10) ? null : reader.GetInt64(10),
            reader.GetBoolean(11),
            reader.IsDBNull(12) ? null : reader.GetInt64(12),
            reader.IsDBNull(13) ? null : reader.GetInt64(13),
            Converted: reader.GetBoolean(14));
    }
}
