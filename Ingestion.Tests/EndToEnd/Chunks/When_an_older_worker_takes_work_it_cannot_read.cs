using Ingestion.Workers.Copy;
using Npgsql;

namespace Ingestion.Tests.EndToEnd.Chunks;

/// <summary>
/// A worker of an older version, still running in a fleet that is rolling out (or rolled back), meets work it would misread;
/// PostgreSQL refuses its statements on it. The old worker writes with the statements it always had, and only a current
/// worker's say they read such work, so the old worker's transaction rolls back and the error that faults its job says why.
/// Plans and checkpoints are made as the worker makes them (<see cref="Checkpoint.CreateAsync"/>, <see cref="ChunkPlan.AddAsync"/>);
/// work of any other kind is not concerned, and an old worker's statements on it commit as they always did.
/// <list type="bullet">
/// <item>A worker before migration 0037 and a compressed file loaded in chunks: it would read a chunk's byte range of the
/// compressed object as text, read keys from it to evict another chunk, or carry on the file's scan over the compressed
/// bytes (triggers <c>upload_chunks_compressed_reader</c> and <c>upload_chunks_compressed_scan</c>; a current worker's
/// <see cref="UploadChunk.AdvanceAsync"/> and eviction say they decompress).</item>
/// <item>A worker before migration 0038, which refused JSON Lines in UTF-16, and such a file: it would read the text of a
/// slice, of a compressed chunk or of the rest of the chunk scan as UTF-8 and reject every line (trigger
/// <c>upload_utf16_json_reader</c>; a current worker's <see cref="Checkpoint.AdvanceAsync"/>, <see cref="ChunkPlan.AddAsync"/>
/// and <see cref="UploadChunk.AdvanceAsync"/> say they read UTF-16).</item>
/// </list>
/// </summary>
public sealed class When_an_older_worker_takes_work_it_cannot_read
{
    // How a worker before migration 0037 recorded a chunk (ChunkPlan.AddSql as it was, without the scan's fence).
    private const string OldAddSql = """
        insert into ingestion.upload_chunks (job_id, chunk, start_offset, end_offset, start_line, byte_offset, line)
        values (@job, @chunk, @from_offset, @from_offset + 1000, 0, @from_offset, 0)
        """;

    // How it moved a chunk's checkpoint (UploadChunk.AdvanceSql as it was).
    private const string OldAdvanceSql = """
        update ingestion.upload_chunks
        set byte_offset = @to_offset, line = @to_offset, rows_loaded = rows_loaded + 100, state = 'sent', updated_at = now()
        where job_id = @job and chunk = @chunk and byte_offset = @from_offset and state = 'sent'
        """;

    // How it evicted a chunk (ChunkEviction.ForgetSql's update as it was).
    private const string OldEvictSql = """
        update ingestion.upload_chunks
        set byte_offset = start_offset, line = start_line, rows_loaded = 0, rows_rejected = 0, evictions = evictions + 1
        where job_id = @job and chunk = @chunk
        """;

    [Test]
    public async Task Should_refuse_its_scan_batches_and_evictions_on_a_compressed_file_and_let_a_current_worker_load_it()
    {
        var (compressed, plain) = (Guid.NewGuid(), Guid.NewGuid());
        await using var connection = await TestRun.Shared.Sandbox.Db.OpenConnectionAsync();
        var none = CancellationToken.None;
        try
        {
            foreach (var (job, isCompressed, objectEnd) in new[] { (compressed, true, (long?)150), (plain, false, null) })
            {
                await Checkpoint.CreateAsync(connection, job, "\"etag\"", ["id"], 2000, 0, 0, chunkBytes: 1000, rowsTotal: null,
                    converted: false, compressed: isCompressed, none);
                await ChunkPlan.AddAsync(connection, job, 0, 0, 1000, 10, scanDone: false, objectEnd, none);
                await ChunkPlan.SendAsync(connection, job, attempt: 1, inFlight: 10, none);
            }

            Assert.That(await ScalarAsync<long?>(connection, "select object_end from ingestion.upload_chunks where job_id = @job", plain),
                Is.Null, "a plain file's chunk has no part of a compressed object");

            // The old worker carries on the compressed file's scan: nothing of it is recorded.
            var scan = Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, OldAddSql, compressed, chunk: 1, from: 1000));
            Assert.That((scan!.SqlState, scan.ConstraintName), Is.EqualTo((PostgresErrorCodes.CheckViolation, "upload_chunks_compressed_reader")));
            Assert.That(scan.MessageText, Does.Contain("whose chunks a worker older than migration 0037 cannot find")
                .And.Contain("Processing:ChunkCompressed"));

            // Its batch on a compressed chunk, in the batch's transaction: refused, nothing of it stays.
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                var refused = Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, OldAdvanceSql, compressed, 0, 0, 400));
                Assert.That((refused!.SqlState, refused.ConstraintName),
                    Is.EqualTo((PostgresErrorCodes.CheckViolation, "upload_chunks_compressed_reader")));
                Assert.That(refused.MessageText, Does.Contain("which a worker older than migration 0037 cannot read")
                    .And.Contain("Processing:ChunkCompressed"), "the job's error says what happened and what to do");
                await transaction.RollbackAsync();
            }

            var chunk = await UploadChunk.FindAsync(connection, compressed, 0, none);
            Assert.That(chunk!.ByteOffset, Is.Zero, "nothing of the old worker's batch stays");

            // A current worker's batches on the same chunk commit, in a transaction as every batch is, and outside one.
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                chunk = await chunk.AdvanceAsync(connection, 400, 4, 4, 0, "sent", none);
                await transaction.CommitAsync();
            }

            chunk = await chunk.AdvanceAsync(connection, 700, 7, 3, 0, "sent", none);
            Assert.That((chunk.ByteOffset, chunk.RowsLoaded), Is.EqualTo((700L, 7L)));

            // The old worker's eviction of it (keys it read from compressed bytes): refused. Then, on the same connection, the
            // current worker's setting gone with its transaction, the old batch statement is refused again.
            foreach (var old in new Func<Task<int>>[]
                     {
                         () => ExecuteAsync(connection, OldEvictSql, compressed, 0),
                         () => ExecuteAsync(connection, OldAdvanceSql, compressed, 0, 700, 1000),
                     })
            {
                var again = Assert.ThrowsAsync<PostgresException>(() => old());
                Assert.That((again!.SqlState, again.ConstraintName, again.MessageText.Contains("cannot read", StringComparison.Ordinal)),
                    Is.EqualTo((PostgresErrorCodes.CheckViolation, "upload_chunks_compressed_reader", true)));
            }

            Assert.That((await UploadChunk.FindAsync(connection, compressed, 0, none))!.ByteOffset, Is.EqualTo(700L));

            // A plain file's chunk: the old statements commit, as before the migration.
            Assert.That(await ExecuteAsync(connection, OldAdvanceSql, plain, 0, 0, 500), Is.EqualTo(1));
            Assert.That(await ExecuteAsync(connection, OldEvictSql, plain, 0), Is.EqualTo(1));
            Assert.That(await ExecuteAsync(connection, OldAddSql, plain, chunk: 1, from: 1000), Is.EqualTo(1));
        }
        finally
        {
            foreach (var job in new[] { compressed, plain })
            {
                await ExecuteAsync(connection, "delete from ingestion.upload_chunks where job_id = @job", job);
                await ExecuteAsync(connection, "delete from ingestion.upload_checkpoints where job_id = @job", job);
            }
        }
    }

    // How a worker before migration 0038 moved a file's checkpoint past a batch (Checkpoint.AdvanceSql as it was).
    private const string OldCheckpointAdvanceSql = """
        update ingestion.upload_checkpoints
        set byte_offset = @to_offset, line = @to_offset, rows_loaded = rows_loaded + 100, updated_at = now()
        where job_id = @job and byte_offset = @from_offset and finished_at is null
        """;

    // How it recorded a chunk of a compressed file's scan (ChunkPlan.AddSql of migration 0037, with its part of the object).
    private const string OldCompressedAddSql = """
        insert into ingestion.upload_chunks (job_id, chunk, start_offset, end_offset, start_line, byte_offset, line,
            object_start, object_end)
        values (@job, @chunk, @from_offset, @from_offset + 1000, 0, @from_offset, 0, 0, 150)
        """;

    // How it moved a compressed chunk's checkpoint (UploadChunk.AdvanceSql of migration 0037, which decompresses).
    private const string OldCompressedAdvanceSql = """
        with reader as (select set_config('ingestion.chunk_reader', 'decompresses', true))
        update ingestion.upload_chunks
        set byte_offset = @to_offset, line = @to_offset, rows_loaded = rows_loaded + 100, state = 'sent', updated_at = now()
        from reader
        where job_id = @job and chunk = @chunk and byte_offset = @from_offset and state = 'sent'
        """;

    // How it evicted a compressed chunk (ChunkEviction.ForgetSql's update of migration 0037, which decompresses).
    private const string OldCompressedEvictSql = """
        with reader as (select set_config('ingestion.chunk_reader', 'decompresses', true))
        update ingestion.upload_chunks
        set byte_offset = start_offset, line = start_line, rows_loaded = 0, rows_rejected = 0, evictions = evictions + 1
        from reader
        where job_id = @job and chunk = @chunk
        """;

    [Test]
    public async Task Should_refuse_its_batches_evictions_and_scan_on_a_utf16_json_lines_file_and_let_a_current_worker_load_it()
    {
        var (stream, chunked, other, otherChunked) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await using var connection = await TestRun.Shared.Sandbox.Db.OpenConnectionAsync();
        var none = CancellationToken.None;
        try
        {
            var streamCheckpoint = await Checkpoint.CreateAsync(connection, stream, "\"etag\"", ["$.id"], 2000, 0, 0, chunkBytes: null,
                rowsTotal: null, converted: true, compressed: false, none, utf16Json: true);
            await Checkpoint.CreateAsync(connection, other, "\"etag\"", ["$.id"], 2000, 0, 0, chunkBytes: null,
                rowsTotal: null, converted: true, compressed: false, none);
            await Checkpoint.CreateAsync(connection, chunked, "\"etag\"", ["$.id"], 2000, 0, 0, chunkBytes: 1000, rowsTotal: null,
                converted: false, compressed: true, none, utf16Json: true);
            await Checkpoint.CreateAsync(connection, otherChunked, "\"etag\"", ["$.id"], 2000, 0, 0, chunkBytes: 1000, rowsTotal: null,
                converted: false, compressed: true, none);

            // The old worker's batch on the file in one stream, in the batch's transaction: refused, nothing of it stays.
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                var refused = Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, OldCheckpointAdvanceSql, stream, 0, 0, 400));
                Assert.That((refused!.SqlState, refused.ConstraintName), Is.EqualTo((PostgresErrorCodes.CheckViolation, "upload_utf16_json_reader")));
                Assert.That(refused.MessageText, Does.Contain("is a JSON Lines file in UTF-16, which a worker older than migration 0038 reads as UTF-8")
                    .And.Contain("retry the job once every worker is upgraded"), "the job's error says what happened and what to do");
                await transaction.RollbackAsync();
            }

            // A current worker's batches commit, in a transaction as every batch is, and outside one.
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                streamCheckpoint = await streamCheckpoint.AdvanceAsync(connection, 400, 4, 4, 0, none);
                await transaction.CommitAsync();
            }

            streamCheckpoint = await streamCheckpoint.AdvanceAsync(connection, 700, 7, 3, 0, none);
            Assert.That((streamCheckpoint.ByteOffset, streamCheckpoint.RowsLoaded), Is.EqualTo((700L, 7L)));

            // On the same connection, the current worker's setting gone with its transaction: the old statement is refused again.
            Assert.That(Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, OldCheckpointAdvanceSql, stream, 0, 700, 900))!.ConstraintName,
                Is.EqualTo("upload_utf16_json_reader"));

            // The compressed file cut into chunks: the old worker's scan records no chunk; a current worker's does, and its
            // batches on the chunk commit where the old worker's are refused.
            Assert.That(Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, OldCompressedAddSql, chunked, chunk: 0, from: 0))!.ConstraintName,
                Is.EqualTo("upload_utf16_json_reader"));
            await ChunkPlan.AddAsync(connection, chunked, 0, 0, 1000, 10, scanDone: false, 150, none);
            await ChunkPlan.SendAsync(connection, chunked, attempt: 1, inFlight: 10, none);
            Assert.That(Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, OldCompressedAdvanceSql, chunked, 0, 0, 400))!.ConstraintName,
                Is.EqualTo("upload_utf16_json_reader"));
            var chunk = await (await UploadChunk.FindAsync(connection, chunked, 0, none))!.AdvanceAsync(connection, 400, 4, 4, 0, "sent", none);
            Assert.That(chunk.ByteOffset, Is.EqualTo(400L));

            // Its eviction of the chunk (keys it would read as UTF-8): refused, the chunk stays where the current worker left it.
            Assert.That(Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, OldCompressedEvictSql, chunked, 0))!.ConstraintName,
                Is.EqualTo("upload_utf16_json_reader"));
            Assert.That((await UploadChunk.FindAsync(connection, chunked, 0, none))!.ByteOffset, Is.EqualTo(400L));

            // Another file read in another encoding (a UTF-16 CSV, say), and another compressed file in chunks: the old
            // statements commit, as before the migration.
            Assert.That(await ExecuteAsync(connection, OldCheckpointAdvanceSql, other, 0, 0, 500), Is.EqualTo(1));
            Assert.That(await ExecuteAsync(connection, OldCompressedAddSql, otherChunked, chunk: 0, from: 0), Is.EqualTo(1));
            await ChunkPlan.SendAsync(connection, otherChunked, attempt: 1, inFlight: 10, none);
            Assert.That(await ExecuteAsync(connection, OldCompressedAdvanceSql, otherChunked, 0, 0, 400), Is.EqualTo(1));
            Assert.That(await ExecuteAsync(connection, OldCompressedEvictSql, otherChunked, 0), Is.EqualTo(1));
        }
        finally
        {
            foreach (var job in new[] { stream, chunked, other, otherChunked })
            {
                await ExecuteAsync(connection, "delete from ingestion.upload_chunks where job_id = @job", job);
                await ExecuteAsync(connection, "delete from ingestion.upload_checkpoints where job_id = @job", job);
            }
        }
    }

    private static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql, Guid jobId, int chunk = 0, long from = 0,
        long to = 0)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("job", jobId);
        if (sql.Contains("@chunk", StringComparison.Ordinal))
        {
            command.Parameters.AddWithValue("chunk", chunk);
        }

        if (sql.Contains("@from_offset", StringComparison.Ordinal))
        {
            command.Parameters.AddWithValue("from_offset", from);
        }

        if (sql.Contains("@to_offset", StringComparison.Ordinal))
        {
            command.Parameters.AddWithValue("to_offset", to);
        }

        return await command.ExecuteNonQueryAsync();
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, Guid jobId)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("job", jobId);
        var value = await command.ExecuteScalarAsync();
        return value is DBNull ? default! : (T)value!;
    }
}
