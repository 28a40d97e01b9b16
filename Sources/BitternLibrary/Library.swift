// The shared library product. Its only job is to carry the link settings of libbittern.so (soname,
// version script); the exported C functions are the @_cdecl functions of Bittern/CAPI, which link in
// with the Bittern target.
@_exported import Bittern
