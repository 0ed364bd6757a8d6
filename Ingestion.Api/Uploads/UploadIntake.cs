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
/// Streams a request body into S3 while counting and hashing it. Memory is one read
/// buffer plus the S3 writer's few parts, whatever the size. If anything goes wrong,
/// including the client going away, the S3 upload is aborted and nothing is kept.
/// </summary>
public sealed class UploadIntake(ObjectStore store, IOptions<UploadOptions> options, ILogger<UploadIntake> logger)
{
    private const int ReadBufferSize = 128 * 1024;

    public long MaxBytes => options.Value.MaxBytes;

    public async Task<StoredObject> StoreAsync(Stream body, string key, CancellationToken cancellationToken)
    {
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        var target = store.OpenWrite(key, "text/csv");
        try
        {
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, ReadBufferSize), cancellationToken)) > 0)
            {
                total += read;
                if (total > MaxBytes)
                {
                    throw new UploadTooLargeException(MaxBytes);
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
