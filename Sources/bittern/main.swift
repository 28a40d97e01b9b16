import Bittern
print(Version.string)
