using Amazon.S3.Model;
using Ingestion.Platform.Storage;
using Ingestion.Tests.Infrastructure;
using Ingestion.Workers.Parquet;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// The stream a Parquet file is read through, on the shared S3 server: a read of at least a column's read size goes
/// straight into the caller's array with one GET of exactly its range (the native reader's reads), smaller ones through the
/// read-ahead buffer, and a disposed stream (whose buffer went back to the pool) reads nothing more.
/// </summary>
public sealed class When_a_parquet_file_is_read_in_ranges
{
    private const int Column = 1 << 20;
    private readonly byte[] _object = new byte[3 * Column];
    private ObjectStore _store = null!;
    private ObjectInfo _info = null!;
    private string _key = null!;

    [OneTimeSetUp]
    public async Task PutAsync()
    {
        new Random(7).NextBytes(_object);
        var sandbox = TestRun.Shared.Sandbox;
        _key = $"tests/ranges-{Guid.NewGuid():N}.bin";
        await sandbox.S3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = sandbox.Bucket, Key = _key, InputStream = new MemoryStream(_object), UseChunkEncoding = false,
        });
        _store = new ObjectStore(sandbox.S3, Options.Create(new S3Options { Bucket = sandbox.Bucket }));
        _info = (await _store.HeadAsync(sandbox.Bucket, _key, CancellationToken.None))!;
    }

    [OneTimeTearDown]
    public async Task DeleteAsync() => await TestRun.Shared.Sandbox.S3.DeleteObjectAsync(TestRun.Shared.Sandbox.Bucket, _key);

    private RangedObjectStream Open() =>
        new(_store, TestRun.Shared.Sandbox.Bucket, _key, _info.ETag, _info.Size, readAhead: Column, directRead: Column);

    [Test]
    public void Should_read_a_large_range_straight_into_the_callers_array_with_one_get()
    {
        using var stream = Open();
        var into = new byte[Column + Column / 2];
        stream.Position = 1000;

        var read = stream.Read(into, 0, into.Length);

        Assert.That(read, Is.EqualTo(into.Length), "all of it at once, not a buffer's worth");
        Assert.That(into, Is.EqualTo(_object.AsSpan(1000, into.Length).ToArray()));
        Assert.That((stream.Requests, stream.BytesFetched), Is.EqualTo((1, (long)into.Length)), "one GET of exactly its range");
    }

    [Test]
    public void Should_serve_small_reads_from_one_read_ahead()
    {
        using var stream = Open();
        var first = new byte[100];
        var second = new byte[100];
        stream.Position = 2L * Column;

        Assert.That(stream.Read(first, 0, first.Length) + stream.Read(second, 0, second.Length), Is.EqualTo(200));

        Assert.That(first.Concat(second), Is.EqualTo(_object.AsSpan(2 * Column, 200).ToArray()));
        Assert.That((stream.Requests, stream.BytesFetched), Is.EqualTo((1, (long)Column)), "one GET of the read-ahead's size");
    }

    [Test]
    public void Should_read_nothing_once_disposed_and_dispose_twice_harmlessly()
    {
        var stream = Open();
        var into = new byte[100];
        Assert.That(stream.Read(into, 0, into.Length), Is.EqualTo(100));
        stream.Dispose();

        Assert.Throws<ObjectDisposedException>(() => _ = stream.Read(into, 0, into.Length), "its buffer is back in the pool");
        Assert.Throws<ObjectDisposedException>(() => _ = stream.Read(new byte[Column], 0, Column), "nor a direct read");
        Assert.DoesNotThrow(stream.Dispose);
        Assert.That(stream.Requests, Is.EqualTo(1), "no GET after disposal");
    }
}
