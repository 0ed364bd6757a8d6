using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingestion.Workers.Copy;

/// <summary>What an eviction undid: the chunks, the rows deleted from the table, and their accounts (transactions only).</summary>
internal sealed record Eviction(IReadOnlyList<int> Chunks, long Rows, IReadOnlyCollection<long> Accounts)
{
    public static readonly Eviction None = new([], 0, []);
}

/// <summary>
/// A keyed chunk's staged rows (a batch redone after a unique violation, or a stage applied in file order)
/// meet a row with their key in the table. When that row was written by a <i>later</i> chunk of the same job
/// (its <c>xmin</c> is one of the later chunk's batches, <c>ingestion.upload_chunk_batches</c>), the later
/// line holds a key an earlier line owns: a sequential load would have rejected the later line. So the later
/// chunk is undone in the caller's transaction, before the staged rows are decided: its rows deleted (by key
/// and <c>xmin</c>, see below), its rejects by its line range, its batches forgotten, its checkpoint reset to its start and
/// its <c>evictions</c> moved. Its loader, if one is at work, finds the count moved at its next batch, rolls
/// that batch back and loads the chunk again from its start; a chunk that was done becomes pending and is sent
/// again. Loaded again, the clash now rejects its row. An eviction only moves a key to an earlier line, so
/// evictions end; the job's first one also ends its parallel mode (<see cref="ChunkPlan.LoadsDirectlyAsync"/>),
/// since each eviction reads the evicted chunk again and the chunk then loads a second time.
/// </summary>
/// <remarks>
/// Locks: the evicted chunk's row is locked before its rows are deleted. A batch locks its own chunk's row
/// first (<see cref="UploadChunk.LockAsync"/>), so an eviction waits for a batch in flight to commit (its rows
/// and its batch record are then deleted too) or makes it fail its check; chunk rows are locked in ascending
/// order (a chunk evicts only later ones), so these locks cannot deadlock among themselves. A wait on a key
/// another open batch inserted can still deadlock with it; PostgreSQL then aborts one, which is redone
/// (<c>UploadProcessor.Chunks.cs</c>).
/// <para>
/// Which rows are the chunk's: a row's <c>xmin</c> is 32 bits, and a frozen row keeps its raw one, so after 2^32
/// transactions an old row of the table can share a batch's <c>xmin</c>. The rows deleted must therefore also have a key
/// the chunk's loaded lines hold: its committed byte range (from its start to its checkpoint) is read again from the file and
/// its rows, less the lines it rejected, copied into a temporary table (<see cref="CopyTarget.EvictedTable"/>), at most one
/// chunk's rows, streamed. An
/// eviction is rare (a key on lines of two chunks) and ends the job's parallel mode, so this read is paid once or so per job.
/// </para>
/// </remarks>
/// <param name="read">Opens the file's records from a position up to a byte offset, as the chunk's loader read them.</param>
internal sealed class ChunkEviction(Guid jobId, int chunk,
    Func<RecordPosition, long, CancellationToken, Task<IUploadRecords>> read, ILogger logger)
{
    private const string LockSql = """
        select start_offset, start_line, byte_offset, line from ingestion.upload_chunks where job_id = @job and chunk = @chunk for update
        """;

    // Says what this worker reads (ReaderFence), for the transaction, as a batch's advance does: it read the evicted chunk's
    // keys through the decompressor, and in UTF-16, where the file needs it.
    private const string ForgetSql = $"""
        delete from ingestion.upload_rejects where job_id = @job and line > @start_line and line <= @line;
        delete from ingestion.upload_chunk_batches where job_id = @job and chunk = @chunk;
        {ReaderFence.Settings};
        update ingestion.upload_chunks
        set byte_offset = start_offset, line = start_line, rows_loaded = 0, rows_rejected = 0, evictions = evictions + 1,
            state = case when state = 'done' then 'pending' else state end, updated_at = now()
        where job_id = @job and chunk = @chunk;
        """;

    public Guid JobId => jobId;

    public int Chunk => chunk;

    /// <summary>Evicts every later chunk of the job that wrote a row with a key of the target's stage.</summary>
    public async Task<Eviction> EvictLaterChunksAsync(NpgsqlConnection connection, CopyTarget target,
        CancellationToken cancellationToken)
    {
        var later = new List<int>();
        await using (var command = new NpgsqlCommand(target.LaterChunksSql, connection))
        {
            command.Parameters.AddWithValue("job", jobId);
            command.Parameters.AddWithValue("chunk", chunk);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                later.Add(reader.GetInt32(0));
            }
        }

        if (later.Count == 0)
        {
            return Eviction.None;
        }

        long rows = 0;
        var accounts = new HashSet<long>();
        var undone = new List<int>();
        foreach (var evicted in later)
        {
            var (start, end) = await LockAsync(connection, evicted, cancellationToken);
            if (!await HoldsKeysAsync(connection, target, evicted, cancellationToken))
            {
                // The list was read before the lock: another eviction undid this chunk meanwhile (and it may be
                // loading again, into its stage). Resetting it now would load its rows twice, or drop its rejects.
                continue;
            }

            undone.Add(evicted);
            await CopyLoadedLinesAsync(connection, target, start, end, cancellationToken);
            await using (var delete = new NpgsqlCommand(target.EvictRowsSql, connection))
            {
                delete.Parameters.AddWithValue("job", jobId);
                delete.Parameters.AddWithValue("chunk", evicted);
                await using var reader = await delete.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    rows++;
                    if (!reader.IsDBNull(0))
                    {
                        accounts.Add(reader.GetInt64(0));
                    }
                }
            }

            await using var forget = new NpgsqlCommand(ForgetSql, connection);
            forget.Parameters.AddWithValue("job", jobId);
            forget.Parameters.AddWithValue("chunk", evicted);
            forget.Parameters.AddWithValue("start_line", start.Line);
            forget.Parameters.AddWithValue("line", end.Line);
            await forget.ExecuteNonQueryAsync(cancellationToken);
        }

        return undone.Count == 0 ? Eviction.None : new Eviction(undone, rows, accounts);
    }

    /// <summary>Under the chunk's lock, in a fresh statement: whether its committed batches still hold a key of the stage.</summary>
    private async Task<bool> HoldsKeysAsync(NpgsqlConnection connection, CopyTarget target, int evicted,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(target.HoldsKeysSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("chunk", evicted);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>
    /// Copies the rows the chunk loaded into the <see cref="CopyTarget.EvictedTable"/>, as its batches loaded them: the lines of
    /// its committed range (<paramref name="start"/> to <paramref name="end"/>) that fit the dataset, less those it rejected
    /// (run before <see cref="ForgetSql"/> deletes its rejects). A line rejected as already in the table holds the key of a row
    /// from before the job, whose frozen 32-bit <c>xmin</c> may equal one of the chunk's batches: kept, that row would be deleted.
    /// </summary>
    private async Task CopyLoadedLinesAsync(NpgsqlConnection connection, CopyTarget target, RecordPosition start,
        RecordPosition end, CancellationToken cancellationToken)
    {
        await BatchCopier.ExecuteAsync(connection, target.CreateEvictedSql, cancellationToken);
        using (var records = await read(start, end.Offset, cancellationToken))
        await using (var copy = await BinaryCopyRows.BeginAsync(connection, target.EvictedCopySql, logger, cancellationToken))
        {
            while (records.Read())
            {
                if (records.Check() is null)
                {
                    copy.StartRow(target.Columns + 1);
                    records.Write(copy);
                    copy.WriteInt64(records.Line);
                    await copy.FlushIfFullAsync(cancellationToken);
                }
            }

            await copy.CompleteAsync(cancellationToken);
        }

        await using (var rejected = new NpgsqlCommand(target.DropEvictedRejectsSql, connection))
        {
            rejected.Parameters.AddWithValue("job", jobId);
            await rejected.ExecuteNonQueryAsync(cancellationToken);
        }

        await BatchCopier.ExecuteAsync(connection, $"analyze {CopyTarget.EvictedTable}", cancellationToken);
    }

    /// <summary>
    /// Locks the chunk's row (waiting for a batch of it in flight), and reads its committed range: from its start to its
    /// checkpoint (the lines its rejects may be on, the bytes its rows come from).
    /// </summary>
    private async Task<(RecordPosition Start, RecordPosition End)> LockAsync(NpgsqlConnection connection, int evicted,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("chunk", evicted);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (new RecordPosition(reader.GetInt64(0), reader.GetInt64(1)), new RecordPosition(reader.GetInt64(2), reader.GetInt64(3)));
    }
}
