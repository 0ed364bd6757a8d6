using System.Buffers;
using Amazon.S3;
using Amazon.S3.Model;

namespace Ingestion.Platform.Storage;

/// <summary>
/// A write-only stream into one S3 object. Bytes fill a part buffer; a full part is
/// uploaded while the next one fills, with at most <c>partsInFlight</c> uploads
/// outstanding, so memory stays at (partsInFlight + 1) parts whatever the object size.
/// An object smaller than one part is stored with a single PUT. Nothing exists in S3
/// until <see cref="CompleteAsync"/> succeeds; disposing without completing aborts.
/// </summary>
public sealed class S3UploadStream : Stream
{
    // Parts come from a pool of their own: the shared pool keeps a buffer per thread, and
    // part uploads finish on many threads, which kept hundreds of MB of 8 MiB parts alive.
    private static readonly ArrayPool<byte> Parts = ArrayPool<byte>.Create(maxArrayLength: 64 << 20, maxArraysPerBucket: 8);

    private readonly IAmazonS3 _s3;
    private readonly string _bucket;
    private readonly string _contentType;
    private readonly int _partSize;
    private readonly int _partsInFlight;
    private readonly Queue<Task<PartETag>> _uploading = new();
    private readonly List<PartETag> _uploaded = [];
    private readonly CancellationTokenSource _abort = new();
    private byte[] _buffer;
    private int _filled;
    private string? _uploadId;
    private long _length;
    private bool _finished;

    internal S3UploadStream(IAmazonS3 s3, string bucket, string key, string contentType, int partSize, int partsInFlight)
    {
        _s3 = s3;
        _bucket = bucket;
        Key = key;
        _contentType = contentType;
        _partSize = partSize;
        _partsInFlight = partsInFlight;
        _buffer = Parts.Rent(partSize);
    }

    public string Key { get; }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_finished;
    public override long Length => _length;
    public override long Position { get => _length; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) =>
        WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        while (!buffer.IsEmpty)
        {
            var take = Math.Min(buffer.Length, _partSize - _filled);
            buffer[..take].CopyTo(_buffer.AsMemory(_filled));
            _filled += take;
            _length += take;
            buffer = buffer[take..];
            if (_filled == _partSize)
            {
                await ShipFullPartAsync(cancellationToken);
            }
        }
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Uploads what is buffered and makes the object visible. Returns its size.</summary>
    public async Task<long> CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        if (_uploadId is null)
        {
            using var body = new MemoryStream(_buffer, 0, _filled, writable: false);
            await _s3.PutObjectAsync(new PutObjectRequest
            {
                BucketName = _bucket,
                Key = Key,
                InputStream = body,
                AutoCloseStream = false,
                ContentType = _contentType,
                UseChunkEncoding = false,
            }, cancellationToken);
        }
        else
        {
            if (_filled > 0)
            {
                StartPart();
            }

            while (_uploading.Count > 0)
            {
                _uploaded.Add(await _uploading.Dequeue());
            }

            await _s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _bucket,
                Key = Key,
                UploadId = _uploadId,
                PartETags = _uploaded,
            }, cancellationToken);
        }

        Release();
        return _length;
    }

    /// <summary>Discards everything written; no object and no pending multipart upload remain.</summary>
    public async Task AbortAsync()
    {
        if (_finished)
        {
            return;
        }

        // Let in-flight parts settle before aborting, or they could land after the abort.
        await _abort.CancelAsync();
        while (_uploading.Count > 0)
        {
            try
            {
                await _uploading.Dequeue();
            }
            catch (Exception)
            {
                // The part failed; the abort below discards the upload either way.
            }
        }

        Release();
        if (_uploadId is not null)
        {
            await _s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest
            {
                BucketName = _bucket,
                Key = Key,
                UploadId = _uploadId,
            }, CancellationToken.None);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await AbortAsync();
        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_finished)
        {
            AbortAsync().GetAwaiter().GetResult();
        }

        base.Dispose(disposing);
    }

    private async Task ShipFullPartAsync(CancellationToken cancellationToken)
    {
        if (_uploadId is null)
        {
            var started = await _s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest
            {
                BucketName = _bucket,
                Key = Key,
                ContentType = _contentType,
            }, cancellationToken);
            _uploadId = started.UploadId;
        }

        StartPart();
        while (_uploading.Count >= _partsInFlight)
        {
            _uploaded.Add(await _uploading.Dequeue());
        }
    }

    private void StartPart()
    {
        var partNumber = _uploaded.Count + _uploading.Count + 1;
        var buffer = _buffer;
        var length = _filled;
        _uploading.Enqueue(UploadPartAsync(buffer, length, partNumber));
        _buffer = Parts.Rent(_partSize);
        _filled = 0;
    }

    private async Task<PartETag> UploadPartAsync(byte[] buffer, int length, int partNumber)
    {
        try
        {
            using var body = new MemoryStream(buffer, 0, length, writable: false);
            var response = await _s3.UploadPartAsync(new UploadPartRequest
            {
                BucketName = _bucket,
                Key = Key,
                UploadId = _uploadId,
                PartNumber = partNumber,
                InputStream = body,
                PartSize = length,
                UseChunkEncoding = false,
            }, _abort.Token);
            return new PartETag(partNumber, response.ETag);
        }
        finally
        {
            Parts.Return(buffer);
        }
    }

    private void Release()
    {
        _finished = true;
        Parts.Return(_buffer);
        _buffer = [];
        _abort.Dispose();
    }
}
