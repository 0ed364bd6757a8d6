using System.Buffers;
using System.Security.Cryptography;
using Ingestion.Platform.Storage;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Uploads;

public sealed record StoredObject(string Key, long Bytes, string Sha256);

public sealed class UploadTooLargeException(long limit)
    : Exception($"The upload is larger than the limit of {limit:N0} bytes.")
{
    public long Limit { get; } = limit;
}

public sealed class EmptyUploadException() : Exception("The upload is empty.");

/// <summary>
/// Streams a request body into S3 while counting and hashing it. A body of declared length
/// (up to S3's 5 GiB single-PUT limit) goes through as one streamed PUT, read as it is sent;
/// any other (chunked, or larger) fills multipart parts, a few at a time. Either way memory
/// stays small whatever the size, and if anything goes wrong, including the client going
/// away, nothing is kept in S3.
/// </summary>
public sealed class UploadIntake(ObjectStore store, IOptions<UploadOptions> options, ILogger<UploadIntake> logger)
{
    private const int ReadBufferSize = 128 * 1024;

    /// <summary>The largest CSV upload.</summary>
    public long MaxBytes => options.Value.MaxBytes;

    /// <summary>How many of a body's first bytes a key may depend on (<see cref="StoreAsync(Stream, long?, Func{byte[], string}, string, long, CancellationToken)"/>).</summary>
    public const int HeadBytes = 4;

    /// <param name="declaredLength">The body's Content-Length, when the client sent one.</param>
    /// <param name="maxBytes">Larger bodies fail with <see cref="UploadTooLargeException"/>, nothing kept.</param>
    public Task<StoredObject> StoreAsync(Stream body, long? declaredLength, string key, string contentType, long maxBytes,
        CancellationToken cancellationToken) =>
        StoreAsync(body, declaredLength, _ => key, contentType, maxBytes, cancellationToken);

    /// <summary>
    /// Stores the body under the key <paramref name="keyFor"/> gives for its first <see cref="HeadBytes"/> bytes (fewer for
    /// a shorter body): an upload's key names its compression, which only those bytes tell for sure.
    /// </summary>
    public async Task<StoredObject> StoreAsync(Stream body, long? declaredLength, Func<byte[], string> keyFor, string contentType,
        long maxBytes, CancellationToken cancellationToken)
    {
        if (declaredLength > maxBytes)
        {
            throw new UploadTooLargeException(maxBytes);
        }

        var head = new byte[HeadBytes];
        var filled = 0;
        while (filled < head.Length && await body.ReadAsync(head.AsMemory(filled), cancellationToken) is var read and > 0)
        {
            filled += read;
        }

        var key = keyFor(head[..filled]);
        await using var whole = new PrefixedStream(head.AsMemory(0, filled), body);
        if (declaredLength is > 0 and <= ObjectStore.MaxSinglePutBytes)
        {
            return await PutAsync(whole, declaredLength.Value, key, contentType, cancellationToken);
        }

        return await StoreInPartsAsync(whole, key, contentType, maxBytes, cancellationToken);
    }

    private async Task<StoredObject> PutAsync(Stream body, long length, string key, string contentType,
        CancellationToken cancellationToken)
    {
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var hashing = new HashingStream(body, length, sha256);
        try
        {
            await store.PutAsync(key, hashing, length, contentType, cancellationToken);
        }
        catch (Exception failure)
        {
            // S3 keeps nothing from a PUT that did not complete; a lenient S3-compatible
            // server might, so the key (unique to this job) is removed either way.
            await DeleteAsync(key, failure);
            throw;
        }

        if (hashing.BytesRead != length)
        {
            await DeleteAsync(key, null);
            throw new IOException($"The body had {hashing.BytesRead:N0} bytes where Content-Length announced {length:N0}.");
        }

        return new StoredObject(key, length, Convert.ToHexStringLower(sha256.GetHashAndReset()));
    }

    private async Task<StoredObject> StoreInPartsAsync(Stream body, string key, string contentType, long maxBytes,
        CancellationToken cancellationToken)
    {
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        var target = store.OpenWrite(key, contentType);
        try
        {
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, ReadBufferSize), cancellationToken)) > 0)
            {
                total += read;
                if (total > maxBytes)
                {
                    throw new UploadTooLargeException(maxBytes);
                }

                sha256.AppendData(buffer, 0, read);
                await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }

            if (total == 0)
            {
                throw new EmptyUploadException();
            }

            await target.CompleteAsync(cancellationToken);
            return new StoredObject(key, total, Convert.ToHexStringLower(sha256.GetHashAndReset()));
        }
        catch (Exception failure)
        {
            await AbortAsync(target, key, failure);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task DeleteAsync(string key, Exception? failure)
    {
        try
        {
            await store.DeleteAsync(key, CancellationToken.None);
        }
        catch (Exception deleteFailure)
        {
            logger.LogWarning(deleteFailure, "Could not delete {Key} after a failed upload: {Failure}", key, failure?.Message);
        }
    }

    private async Task AbortAsync(S3UploadStream target, string key, Exception failure)
    {
        try
        {
            await target.AbortAsync();
        }
        catch (Exception abortFailure)
        {
            // The upload already failed; S3's lifecycle rule for incomplete multipart
            // uploads reclaims what the abort could not. Report both, keep the first.
            logger.LogWarning(abortFailure, "Could not abort the S3 upload of {Key} after: {Failure}", key, failure.Message);
        }
    }
}

/// <summary>Reads through to another stream of a declared length, hashing and counting what passes.</summary>
internal sealed class HashingStream(Stream inner, long length, IncrementalHash hash) : Stream
{
    private long _read;

    /// <summary>Bytes read so far.</summary>
    public long BytesRead => _read;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;

    /// <summary>The declared length: what the S3 client frames the body with.</summary>
    public override long Length => length;

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>
    /// Fills the buffer as far as the body allows. A request body arrives in small pieces;
    /// passing them on one by one would make as many small writes to S3, which costs the S3
    /// server far more per byte than a few large ones.
    /// </summary>
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await inner.ReadAsync(buffer[filled..], cancellationToken);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        hash.AppendData(buffer.Span[..filled]);
        _read += filled;
        return filled;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

}

/// <summary>A few bytes already read from a stream, then the rest of it: the body after its head was looked at.</summary>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (prefix.IsEmpty)
        {
            return rest.ReadAsync(buffer, cancellationToken);
        }

        var count = Math.Min(prefix.Length, buffer.Length);
        prefix[..count].CopyTo(buffer);
        prefix = prefix[count..];
        return ValueTask.FromResult(count);
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
